import { describe, expect, it } from 'vitest';
import { natPresets } from '../../../lab/sim/index.ts';
import { agentSwarm } from '../../../tracker/context.ts';
import { publishFixture } from '../fixture-release.ts';
import { buildWorld } from './harness.ts';

const KB = 1024;
const fixture = publishFixture({
  size: 512 * KB,
  pieceLength: 32 * KB,
  seed: 77,
  nowMs: Date.UTC(2026, 0, 1),
});
const peerBytes = (b: Record<string, number>): number =>
  (b['peer-same-isp'] ?? 0) + (b['peer-other-isp'] ?? 0);

/** One device behind a port-restricted gateway that speaks PCP, NAT-PMP and UPnP, with a rendezvous. */
async function behindMappingGateway(seed: number, policy?: Parameters<typeof buildWorld>[0]['policy']) {
  const world = await buildWorld({
    fixture,
    devices: 1,
    seed,
    natted: () => true,
    gatewayFor: () => ({
      nat: natPresets.portRestricted,
      portMapping: { upnp: true, natPmp: true, pcp: true },
    }),
    rendezvous: true,
    edge: {},
    ...(policy ? { policy } : {}),
  });
  const device = world.devices[0]!;
  const gateway = device.gateway!;
  /** The gateway's mappings made on request (PCP / NAT-PMP / UPnP), not by traffic. */
  const explicit = () => gateway.nat.mappings(world.sim.clock.now()).filter((m) => m.explicit);
  return { world, device, gateway, explicit };
}

describe('agent NAT traversal on the simulated network', () => {
  it('port-restricted devices trade only via punching; symmetric pairs never connect', async () => {
    // 0,1: port-restricted cone, no port mapping; 2,3: symmetric. A slow CDN leaves room for peers.
    const world = await buildWorld({
      fixture,
      devices: 4,
      seed: 9,
      natted: () => true,
      gatewayFor: (i) => ({ nat: i < 2 ? natPresets.portRestricted : natPresets.symmetric }),
      rendezvous: true,
      edge: { capacityBytesPerSecond: 1 }, // a STUN server on a second IP; serves (almost) nothing
      // Slow enough that the CDN alone takes longer than probe + registration + punch (~4 s).
      cdnRateBps: 100 * KB,
    });
    world.startAll(0);
    const result = await world.sim.run({
      until: () => world.devices.every((d) => d.done),
      deadlineMs: 300_000,
    });
    expect(result.reason).toBe('condition');
    expect(world.devices.filter((d) => d.error).map((d) => String(d.error))).toEqual([]);
    const [a, b, c, d] = world.devices.map((x) => x.summary!);
    for (const s of [a, b, c, d]) expect(s?.sha256).toBe(fixture.manifest.sha256);
    expect(peerBytes(a!.bytesBySource)).toBeGreaterThan(0);
    expect(peerBytes(b!.bytesBySource)).toBeGreaterThan(0);
    expect(peerBytes(c!.bytesBySource)).toBe(0);
    expect(peerBytes(d!.bytesBySource)).toBe(0);
    expect(c!.peakPeers + d!.peakPeers).toBe(0);
    // The summaries count how sessions came about: a and b met through a punch, c and d never met.
    expect(a!.connections.punched + b!.connections.punched).toBeGreaterThan(0);
    // Every punch asked for got through: none was dropped because it came (from the first announce)
    // before the device had finished registering with the rendezvous.
    for (const s of [a!, b!]) expect(s.connections.punched).toBe(s.connections.punches);
    for (const s of [c!, d!]) expect(s.connections.dialedOk + s.connections.accepted).toBe(0);
    // The probe classified each NAT, and the tracker filed the devices accordingly.
    const release = `${fixture.manifest.product}@${fixture.manifest.version}`;
    const reach = await Promise.all(
      world.devices.map(
        async (x) => (await world.swarmStore!.getPeer(agentSwarm(release), x.agent.deviceId()!))?.reach,
      ),
    );
    expect(reach).toEqual(['punchable', 'punchable', 'hard', 'hard']);
    await world.sim.settle(Promise.all(world.devices.map((x) => x.agent.stop())));
  }, 120_000);

  it('without traversal (network.traversal: false) the same NATed devices get nothing from each other', async () => {
    const world = await buildWorld({
      fixture,
      devices: 2,
      seed: 9,
      natted: () => true,
      gatewayFor: () => ({ nat: natPresets.portRestricted }),
      rendezvous: true,
      edge: { capacityBytesPerSecond: 1 },
      cdnRateBps: 200 * KB,
      configFor: (_i, base) => ({ ...base, network: { ...base.network, traversal: false } }),
    });
    world.startAll(0);
    await world.sim.run({ until: () => world.devices.every((d) => d.done), deadlineMs: 300_000 });
    for (const d of world.devices) {
      expect(d.summary?.sha256).toBe(fixture.manifest.sha256);
      expect(peerBytes(d.summary!.bytesBySource)).toBe(0);
    }
    await world.sim.settle(Promise.all(world.devices.map((x) => x.agent.stop())));
  }, 120_000);

  it('a fetch that fails releases what its early NAT traversal set up (the port mapping)', async () => {
    const { world, device, explicit } = await behindMappingGateway(12);
    // No such channel: neither the tracker nor the CDN knows it. Traversal started beside the tracker
    // query all the same, and mapped a port on the gateway while the fetch was failing.
    let failure: unknown;
    let mappedMeanwhile = false;
    void device!.agent.fetch({ product: 'fw', channel: 'no-such-channel' }).catch((error: unknown) => {
      failure = error;
    });
    await world.sim.run({
      until: () => {
        mappedMeanwhile ||= explicit().length > 0;
        return failure !== undefined;
      },
      deadlineMs: 60_000,
    });
    expect(String(failure)).toMatch(/no-such-channel|not found|404/i);
    expect(mappedMeanwhile).toBe(true);
    await world.sim.run({ until: () => explicit().length === 0, deadlineMs: 5_000 });
    expect(explicit()).toEqual([]);
    await world.sim.settle(device!.agent.stop());
  }, 60_000);

  it('behind a gateway with PCP / NAT-PMP / UPnP it announces a port mapping and removes it when seeding stops', async () => {
    const { world, device, gateway, explicit } = await behindMappingGateway(11, {
      seedRatio: null,
      seedSeconds: 20,
    });
    world.startAll(0);
    await world.sim.run({ until: () => device!.done, deadlineMs: 120_000 });
    expect(device!.summary?.sha256).toBe(fixture.manifest.sha256);
    expect(explicit().length).toBe(1);
    expect(explicit()[0]!.internalIp).toBe(device!.host.address);
    // The tracker got the mapping in the reachability report: the device counts as open.
    const release = `${fixture.manifest.product}@${fixture.manifest.version}`;
    const record = await world.swarmStore!.getPeer(agentSwarm(release), device!.agent.deviceId()!);
    expect(record?.reach).toBe('open');
    expect(record?.candidates).toContainEqual({
      type: 'mapped',
      host: gateway.wanAddress,
      port: explicit()[0]!.externalPort,
    });
    // Seeding ends by policy: the mapping goes with it, before the agent itself stops.
    await world.sim.run({
      until: () => device!.agent.seedStops()[release] !== undefined,
      deadlineMs: 60_000,
    });
    expect(device!.agent.seedStops()[release]).toBe('time');
    // The delete is one request to the gateway: give it a moment of virtual time, no more.
    await world.sim.run({ until: () => explicit().length === 0, deadlineMs: 5_000 });
    expect(explicit()).toEqual([]);
    await world.sim.settle(device!.agent.stop());
    expect(explicit()).toEqual([]);
  }, 120_000);

  it('fails forward: an unanswering STUN / rendezvous endpoint does not hold the download up', async () => {
    const silentKey = Buffer.alloc(32, 9).toString('base64');
    const completion = async (traversal: boolean): Promise<number> => {
      const world = await buildWorld({
        fixture,
        devices: 1,
        seed: 13,
        natted: () => true,
        gatewayFor: () => ({ nat: natPresets.portRestricted }),
        configFor: (_i, base) => ({
          ...base,
          // Nothing listens there: STUN and the rendezvous session go unanswered.
          network: { traversal, rendezvous: `203.0.113.9:7001@${silentKey}` },
        }),
      });
      world.startAll(0);
      await world.sim.run({ until: () => world.devices[0]!.done, deadlineMs: 120_000 });
      const summary = world.devices[0]!.summary;
      expect(summary?.sha256).toBe(fixture.manifest.sha256);
      await world.sim.settle(world.devices[0]!.agent.stop());
      return summary!.completionMs;
    };
    const without = await completion(false);
    const withProbe = await completion(true);
    // The probe runs beside the download (bounded at 3 s): it must not hold the download up.
    expect(withProbe - without).toBeLessThanOrEqual(500);
  }, 120_000);
});
