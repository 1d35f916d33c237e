import { describe, expect, it } from 'vitest';
import { createSimulation, natPresets, type SimHost, type Simulation } from '../../../lab/sim/index.ts';
import { deviceOfClass, NAT_CLASSES, type NatClass, observe, punch, startEchoServer } from './nat-helpers.ts';

/**
 * What RFC 4787 predicts for a naive simultaneous open where each side answers the address a punch
 * came from: it fails exactly when one side's mapping depends on the destination (symmetric, or a
 * symmetric CGN) and the other side either filters on address AND port or is itself
 * destination-dependent. NAT444 behind an EIM CGN behaves like its home NAT (port-restricted).
 * This is the classic table (Ford et al. 2005; FACTS.md): symmetric fails with port-restricted
 * and symmetric, works with everything else.
 */
const FAILS = new Set([
  'symmetric|symmetric',
  'port-restricted|symmetric',
  'symmetric|nat444-eim',
  'symmetric|nat444-symmetric',
  'port-restricted|nat444-symmetric',
  'nat444-eim|nat444-symmetric',
  'nat444-symmetric|nat444-symmetric',
]);

function expected(a: NatClass, b: NatClass): boolean {
  const [x, y] = NAT_CLASSES.indexOf(a) <= NAT_CLASSES.indexOf(b) ? [a, b] : [b, a];
  return !FAILS.has(`${x}|${y}`);
}

async function tryPunch(sim: Simulation, a: SimHost, b: SimHost, stun: SimHost): Promise<boolean> {
  const sa = await a.udp.bind({ port: 4000 });
  const sb = await b.udp.bind({ port: 4000 });
  const server = { host: stun.address, port: 3478 };
  const am = await observe(sim, sa, server);
  const bm = await observe(sim, sb, server);
  return punch(sim, sa, am, sb, bm);
}

const pairs: Array<[NatClass, NatClass]> = [];
for (let i = 0; i < NAT_CLASSES.length; i++)
  for (let j = i; j < NAT_CLASSES.length; j++) pairs.push([NAT_CLASSES[i]!, NAT_CLASSES[j]!]);

describe('NAT matrix: naive simultaneous-open hole punching', () => {
  it.each(pairs)('%s <-> %s', async (ca, cb) => {
    const sim = createSimulation({ seed: 11 });
    const stun = sim.addServer({ name: 'stun', region: sim.addRegion({ name: 'stun-region' }) });
    await startEchoServer(stun);
    const a = deviceOfClass(sim, ca, 'a');
    const b = deviceOfClass(sim, cb, 'b');
    expect(await tryPunch(sim, a, b, stun)).toBe(expected(ca, cb));
  });

  it('STUN sees a different port per destination only behind destination-dependent mapping', async () => {
    const sim = createSimulation({ seed: 3 });
    const region = sim.addRegion({ name: 'r' });
    const stun1 = sim.addServer({ name: 'stun1', region });
    const stun2 = sim.addServer({ name: 'stun2', region });
    await startEchoServer(stun1);
    await startEchoServer(stun2);
    for (const cls of NAT_CLASSES) {
      const host = deviceOfClass(sim, cls, cls);
      const socket = await host.udp.bind({ port: 4000 });
      const m1 = await observe(sim, socket, { host: stun1.address, port: 3478 });
      const m2 = await observe(sim, socket, { host: stun2.address, port: 3478 });
      expect(m1.host).toBe(m2.host);
      expect(m1.port === m2.port, cls).toBe(!cls.includes('symmetric'));
    }
  });
});

describe('hairpinning', () => {
  for (const hairpinning of [true, false]) {
    it(`two hosts behind one home NAT punch via public addresses only with hairpinning=${hairpinning}`, async () => {
      const sim = createSimulation({ seed: 5 });
      const region = sim.addRegion({ name: 'r' });
      const stun = sim.addServer({ name: 'stun', region });
      await startEchoServer(stun);
      const isp = sim.addIsp({ name: 'isp', region });
      const gateway = sim.addGateway({ isp, nat: { ...natPresets.portRestricted, hairpinning } });
      const a = sim.addHost({ gateway, name: 'a' });
      const b = sim.addHost({ gateway, name: 'b' });
      expect(await tryPunch(sim, a, b, stun)).toBe(hairpinning);
      expect(a.counters.dropped.hairpin > 0).toBe(!hairpinning);
    });

    it(`two subscribers of one CGN reach each other only with CGN hairpinning=${hairpinning}`, async () => {
      const sim = createSimulation({ seed: 6 });
      const region = sim.addRegion({ name: 'r' });
      const stun = sim.addServer({ name: 'stun', region });
      await startEchoServer(stun);
      const isp = sim.addIsp({ name: 'isp', region, cgn: { ...natPresets.cgnEim, hairpinning } });
      const a = sim.addHost({ gateway: sim.addGateway({ isp, nat: natPresets.portRestricted }), name: 'a' });
      const b = sim.addHost({ gateway: sim.addGateway({ isp, nat: natPresets.portRestricted }), name: 'b' });
      expect(await tryPunch(sim, a, b, stun)).toBe(hairpinning);
    });
  }
});
