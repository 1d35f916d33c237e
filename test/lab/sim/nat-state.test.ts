import { describe, expect, it } from 'vitest';
import { createSimulation, natPresets } from '../../../lab/sim/index.ts';
import { observe, startEchoServer } from './nat-helpers.ts';

describe('CGN port blocks and paired pooling', () => {
  it('gives every subscriber one pool address and ports only from its own block', async () => {
    const sim = createSimulation({ seed: 2 });
    const region = sim.addRegion({ name: 'r' });
    const stun = sim.addServer({ name: 'stun', region });
    await startEchoServer(stun);
    const server = { host: stun.address, port: 3478 };
    const isp = sim.addIsp({
      name: 'isp',
      region,
      cgn: { ...natPresets.cgnEim, poolSize: 2, portBlockSize: 1024 },
    });
    const cgn = isp.cgn!;
    const blocks: Array<{ externalIp: string; low: number; high: number }> = [];
    for (let g = 0; g < 5; g++) {
      const gateway = sim.addGateway({ isp, nat: natPresets.symmetric, name: `gw${g}` });
      const host = sim.addHost({ gateway });
      const block = cgn.nat.portBlockFor(gateway.wanAddress);
      blocks.push(block);
      // A symmetric home NAT opens a fresh CGN mapping per destination port: several per subscriber.
      const socket = await host.udp.bind({ port: 5000 });
      for (let i = 0; i < 4; i++) {
        const mapped = await observe(sim, socket, server);
        expect(mapped.host).toBe(block.externalIp);
        expect(mapped.port).toBeGreaterThanOrEqual(block.low);
        expect(mapped.port).toBeLessThanOrEqual(block.high);
        server.port = 3478; // same server; the home NAT is symmetric only towards new ports
      }
      const other = await host.udp.bind({ port: 5001 });
      const m2 = await observe(sim, other, server);
      expect(m2.host).toBe(block.externalIp);
      expect(m2.port).toBeGreaterThanOrEqual(block.low);
      expect(m2.port).toBeLessThanOrEqual(block.high);
    }
    expect(new Set(blocks.map((b) => b.externalIp)).size).toBe(2);
    for (let i = 0; i < blocks.length; i++)
      for (let j = i + 1; j < blocks.length; j++) {
        const a = blocks[i]!;
        const b = blocks[j]!;
        if (a.externalIp === b.externalIp) expect(a.high < b.low || b.high < a.low).toBe(true);
      }
    expect(blocks.every((b) => b.high - b.low + 1 === 1024)).toBe(true);
  });

  it('refuses new mappings once a subscriber exhausts its block', async () => {
    const sim = createSimulation({ seed: 2 });
    const region = sim.addRegion({ name: 'r' });
    const sink = sim.addServer({ name: 'sink', region });
    const isp = sim.addIsp({ name: 'isp', region, cgn: { ...natPresets.cgnSymmetric, portBlockSize: 16 } });
    const phone = sim.addHost({ isp });
    const socket = await phone.udp.bind();
    for (let port = 1; port <= 20; port++) socket.send({ host: sink.address, port }, new Uint8Array(1));
    await sim.run();
    expect(phone.counters.dropped['nat-exhausted']).toBe(4);
    expect(isp.cgn!.nat.mappings(sim.now())).toHaveLength(16);
  });
});

describe('mapping timeout', () => {
  async function setup(timeoutMs?: number) {
    const sim = createSimulation({ seed: 4 });
    const region = sim.addRegion({ name: 'r' });
    const server = sim.addServer({ name: 'server', region });
    const isp = sim.addIsp({ name: 'isp', region });
    const gateway = sim.addGateway({ isp, nat: { ...natPresets.fullCone, mappingTimeoutMs: timeoutMs } });
    const device = sim.addHost({ gateway });
    const srv = await server.udp.bind({ port: 7 });
    const dev = await device.udp.bind({ port: 4000 });
    let mapped = { host: '', port: 0 };
    srv.onMessage((_, from) => {
      mapped = from;
    });
    let received = 0;
    dev.onMessage(() => received++);
    dev.send(srv.localAddress(), new Uint8Array([1]));
    await sim.run();
    return {
      sim,
      srv,
      dev,
      device,
      get mapped() {
        return mapped;
      },
      get received() {
        return received;
      },
    };
  }

  it('defaults to 120 s and expires a mapping after that long without outbound traffic', async () => {
    const t = await setup();
    await t.sim.run({ deadlineMs: 119_000 });
    t.srv.send(t.mapped, new Uint8Array([2]));
    await t.sim.run({ deadlineMs: 1_000 });
    expect(t.received).toBe(1);
    // Inbound traffic does not refresh (RFC 4787 REQ-6 leaves it optional; we model the strict case).
    await t.sim.run({ deadlineMs: 2_000 });
    t.srv.send(t.mapped, new Uint8Array([3]));
    await t.sim.run({ deadlineMs: 1_000 });
    expect(t.received).toBe(1);
    expect(t.sim.stats().dropped['mapping-expired']).toBe(1);
  });

  it('outbound keepalives refresh the mapping', async () => {
    const t = await setup(30_000);
    for (let i = 0; i < 5; i++) {
      await t.sim.run({ deadlineMs: 25_000 });
      t.dev.send(t.srv.localAddress(), new Uint8Array([9]));
    }
    await t.sim.run({ deadlineMs: 20_000 });
    const before = t.mapped;
    t.srv.send(before, new Uint8Array([2]));
    await t.sim.run({ deadlineMs: 1_000 });
    expect(t.received).toBe(1);
    await t.sim.run({ deadlineMs: 30_000 });
    t.srv.send(before, new Uint8Array([3]));
    await t.sim.run({ deadlineMs: 1_000 });
    expect(t.received).toBe(1);
  });

  it('unsolicited inbound traffic is dropped by the filter', async () => {
    const sim = createSimulation({ seed: 4 });
    const region = sim.addRegion({ name: 'r' });
    const server = sim.addServer({ name: 'server', region });
    const isp = sim.addIsp({ name: 'isp', region });
    const gateway = sim.addGateway({ isp, nat: natPresets.fullCone });
    await sim.addHost({ gateway }).udp.bind({ port: 4000 });
    const srv = await server.udp.bind();
    srv.send({ host: gateway.wanAddress, port: 4000 }, new Uint8Array(1));
    await sim.run();
    expect(server.counters.dropped['nat-filter']).toBe(1);
  });
});
