import { describe, expect, it } from 'vitest';
import { type Contact, createSimulation, natPresets, type SimHost } from '../../../lab/sim/index.ts';
import { observe, punch, startEchoServer } from './nat-helpers.ts';

/** The pair's contact with node names instead of nodes (a failed match must not diff the whole graph). */
function contactOf(sim: ReturnType<typeof createSimulation>, a: SimHost, b: SimHost) {
  const c: Contact | undefined = sim
    .contacts()
    .contacts()
    .find(
      (c) => (c.initiator === a.node && c.other === b.node) || (c.initiator === b.node && c.other === a.node),
    );
  return c === undefined ? undefined : { ...c, initiator: c.initiator.name, other: c.other.name };
}

describe('contact table (device pairs as the network saw them)', () => {
  it('tells lan, hairpin, static forward, punched and unmapped ports apart', async () => {
    const sim = createSimulation({ seed: 5 });
    const region = sim.addRegion({ name: 'eu' });
    const isp = sim.addIsp({ name: 'isp', region });
    const home = sim.addGateway({ isp, nat: natPresets.portRestricted, name: 'home' });
    const a = sim.addHost({ gateway: home, name: 'a' });
    const b = sim.addHost({ gateway: home, name: 'b' });
    const far = sim.addHost({
      gateway: sim.addGateway({ isp, nat: natPresets.portRestricted, name: 'far-home' }),
      name: 'far',
    });
    const stun = sim.addServer({ name: 'stun', region });
    await startEchoServer(stun);
    const sa = await a.udp.bind({ port: 7000 });
    const sb = await b.udp.bind({ port: 7001 });
    const sf = await far.udp.bind({ port: 7002 });
    for (const s of [sa, sb, sf])
      s.onMessage((bytes, from) => bytes[0] === 0x20 && s.send(from, new Uint8Array([0x21])));

    // a -> b on the LAN address: no NAT involved.
    sa.send({ host: b.address, port: 7001 }, new Uint8Array([0x20]));
    await sim.run({ deadlineMs: 1000 });
    expect(contactOf(sim, a, b)).toMatchObject({ initiator: 'a', how: 'lan', forward: 1, backward: 1 });

    // far -> b's public address through a static forward: mapped-static.
    home.nat.addExplicitMapping(
      {
        protocol: 'udp',
        internalIp: b.address,
        internalPort: 7001,
        externalPort: 7001,
        lifetimeMs: Infinity,
        via: 'static',
      },
      sim.now(),
    );
    sf.send({ host: home.wanAddress, port: 7001 }, new Uint8Array([0x20]));
    await sim.run({ deadlineMs: 1000 });
    expect(contactOf(sim, far, b)).toMatchObject({ initiator: 'far', how: 'mapped-static', backward: 1 });

    // a -> a's own public address + b's forwarded port: the home NAT loops it back (hairpin).
    const c = sim.addHost({ gateway: home, name: 'c' });
    const sc = await c.udp.bind({ port: 7003 });
    sc.send({ host: home.wanAddress, port: 7001 }, new Uint8Array([0x20]));
    await sim.run({ deadlineMs: 1000 });
    expect(contactOf(sim, c, b)).toMatchObject({ how: 'hairpin', forward: 1, backward: 1 });

    // a and far punch through their port-restricted NATs: the first datagram in is a punched one.
    const aMapped = await observe(sim, sa, { host: stun.address, port: 3478 });
    const fMapped = await observe(sim, sf, { host: stun.address, port: 3478 });
    expect(await punch(sim, sa, aMapped, sf, fMapped)).toBe(true);
    const ap = contactOf(sim, a, far)!;
    expect(ap.how).toBe('punched');
    expect(ap.dropped).toBeGreaterThan(0); // the first punch packet hit the other NAT's filter
    expect(ap.forward).toBeGreaterThan(0);
    expect(ap.backward).toBeGreaterThan(0);

    // A datagram to a public port nothing maps belongs to no device: counted as unresolved.
    sf.send({ host: home.wanAddress, port: 9999 }, new Uint8Array([0x20]));
    await sim.run({ deadlineMs: 1000 });
    expect(
      sim
        .contacts()
        .unresolvedContacts()
        .map((u) => ({ ...u, from: u.from.name })),
    ).toEqual([{ from: 'far', targets: 1, dropped: 1 }]);
  });

  it('names the port-mapping protocol that opened the way and sees hairpin refusals', async () => {
    const sim = createSimulation({ seed: 6 });
    const region = sim.addRegion({ name: 'eu' });
    const isp = sim.addIsp({ name: 'isp', region });
    const home = sim.addGateway({ isp, nat: { ...natPresets.portRestricted, hairpinning: false } });
    const a = sim.addHost({ gateway: home, name: 'a' });
    const b = sim.addHost({ gateway: home, name: 'b' });
    const pub = sim.addHost({ isp, behindCgn: false, name: 'pub' });
    const sa = await a.udp.bind({ port: 7000 });
    const sb = await b.udp.bind({ port: 7001 });
    const sp = await pub.udp.bind({ port: 7002 });
    sa.onMessage((_bytes, from) => sa.send(from, new Uint8Array([1])));
    home.nat.addExplicitMapping(
      {
        protocol: 'udp',
        internalIp: a.address,
        internalPort: 7000,
        externalPort: 7000,
        lifetimeMs: 60_000,
        via: 'pcp',
      },
      sim.now(),
    );
    sp.send({ host: home.wanAddress, port: 7000 }, new Uint8Array([0]));
    // Without hairpinning b cannot use a's public address, mapping or not.
    sb.send({ host: home.wanAddress, port: 7000 }, new Uint8Array([0]));
    await sim.run({ deadlineMs: 1000 });
    expect(contactOf(sim, pub, a)).toMatchObject({
      initiator: 'pub',
      how: 'mapped-pcp',
      forward: 1,
      backward: 1,
    });
    expect(contactOf(sim, b, a)).toMatchObject({ initiator: 'b', how: undefined, forward: 0, dropped: 1 });
    expect(sim.stats().dropped.hairpin).toBe(1);
  });
});
