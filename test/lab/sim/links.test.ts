import { describe, expect, it } from 'vitest';
import {
  burstyLoss,
  createSimulation,
  DEFAULT_START_TIME,
  type LinkOptions,
  UDP_IP_OVERHEAD,
} from '../../../lab/sim/index.ts';

/** Two servers hanging off the core: sender's link is the one under test, receiver's is perfect. */
function pair(link: LinkOptions, seed = 7) {
  const sim = createSimulation({ seed });
  const sender = sim.addServer({ name: 'sender', link });
  const receiver = sim.addServer({ name: 'receiver', link: {} });
  return { sim, sender, receiver };
}

describe('links', () => {
  it('a saturating flow gets the configured bandwidth (within 2 %)', async () => {
    const bandwidthBps = 10e6;
    const { sim, sender, receiver } = pair({ up: { bandwidthBps, delayMs: 5 } });
    const rx = await receiver.udp.bind({ port: 9 });
    const tx = await sender.udp.bind();
    const arrivals: number[] = [];
    rx.onMessage(() => arrivals.push(sim.now()));
    const payload = new Uint8Array(1200 - UDP_IP_OVERHEAD);
    // Offer 19.2 Mbit/s for 10 s: the queue stays full and the link runs flat out.
    let sent = 0;
    const pump = (): void => {
      tx.send(rx.localAddress(), payload);
      if (++sent < 20_000) sim.clock.setTimer(0.5, pump);
    };
    pump();
    await sim.run();
    const first = arrivals[0]!;
    const last = arrivals.at(-1)!;
    const measuredBps = ((arrivals.length - 1) * 1200 * 8) / ((last - first) / 1000);
    expect(Math.abs(measuredBps - bandwidthBps) / bandwidthBps).toBeLessThan(0.02);
    const link = sim.links().find((l) => l.name === 'sender->internet')!;
    expect(link.counters.dropped.queue).toBeGreaterThan(5000);
    expect(arrivals.length + link.counters.dropped.queue).toBe(20_000);
  });

  it('round-trip time equals the configured delays', async () => {
    const sim = createSimulation();
    const a = sim.addServer({ name: 'a', link: { delayMs: 30 } });
    const b = sim.addServer({ name: 'b', link: { up: { delayMs: 15 }, down: { delayMs: 25 } } });
    const sa = await a.udp.bind();
    const sb = await b.udp.bind({ port: 7 });
    sb.onMessage((bytes, from) => sb.send(from, bytes));
    const rtts: number[] = [];
    let sentAt = 0;
    sa.onMessage(() => {
      rtts.push(sim.now() - sentAt);
      if (rtts.length < 5) ping();
    });
    const ping = (): void => {
      sentAt = sim.now();
      sa.send(sb.localAddress(), new Uint8Array(64));
    };
    ping();
    await sim.run();
    // a->core 30, core->b 25, b->core 15, core->a 30
    expect(rtts).toEqual([100, 100, 100, 100, 100]);
  });

  it('uniform loss over 100k packets stays within statistical bounds', async () => {
    const p = 0.02;
    const n = 100_000;
    const { sim, sender, receiver } = pair({ up: { loss: p, delayMs: 1 } });
    const rx = await receiver.udp.bind({ port: 9 });
    const tx = await sender.udp.bind();
    let received = 0;
    rx.onMessage(() => received++);
    const payload = new Uint8Array(100);
    for (let i = 0; i < n; i++) tx.send(rx.localAddress(), payload);
    await sim.run();
    const lost = n - received;
    const sigma = Math.sqrt(n * p * (1 - p));
    expect(Math.abs(lost - n * p)).toBeLessThan(5 * sigma);
    expect(sender.counters.dropped.loss).toBe(lost);
  });

  it('Gilbert-Elliott loss has the configured mean and comes in bursts', async () => {
    const n = 100_000;
    const { sim, sender, receiver } = pair({ up: { loss: burstyLoss(0.03, 4), delayMs: 1 } });
    const rx = await receiver.udp.bind({ port: 9 });
    const tx = await sender.udp.bind();
    const got = new Uint8Array(n);
    rx.onMessage((bytes) => {
      got[new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)] = 1;
    });
    for (let i = 0; i < n; i++) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setUint32(0, i);
      tx.send(rx.localAddress(), b);
    }
    await sim.run();
    let lost = 0;
    let bursts = 0;
    for (let i = 0; i < n; i++) {
      if (got[i] === 0) {
        lost++;
        if (i === 0 || got[i - 1] === 1) bursts++;
      }
    }
    expect(lost / n).toBeGreaterThan(0.025);
    expect(lost / n).toBeLessThan(0.035);
    const meanBurst = lost / bursts;
    expect(meanBurst).toBeGreaterThan(3.4);
    expect(meanBurst).toBeLessThan(4.6);
  });

  it('enforces the MTU, duplicates, reorders and jitters as configured', async () => {
    const { sim, sender, receiver } = pair({
      up: { mtu: 1280, duplicate: 0.1, reorder: 0.1, reorderDelayMs: 5 },
    });
    const rx = await receiver.udp.bind({ port: 9 });
    const tx = await sender.udp.bind();
    const order: number[] = [];
    rx.onMessage((bytes) => order.push(bytes[0]! + 256 * bytes[1]!));
    tx.send(rx.localAddress(), new Uint8Array(1280 - UDP_IP_OVERHEAD + 1));
    for (let i = 0; i < 2000; i++) {
      tx.send(rx.localAddress(), new Uint8Array([i & 255, i >> 8]));
      await sim.run({ deadlineMs: 1 });
    }
    await sim.run();
    expect(sender.counters.dropped.mtu).toBe(1);
    const link = sim.links().find((l) => l.name === 'sender->internet')!.counters;
    expect(order.length).toBe(2000 + link.duplicated);
    expect(link.duplicated).toBeGreaterThan(140);
    expect(link.duplicated).toBeLessThan(260);
    let inversions = 0;
    for (let i = 1; i < order.length; i++) if (order[i]! < order[i - 1]!) inversions++;
    expect(inversions).toBeGreaterThan(100);
  });

  it('serialization adds size/bandwidth to the delay', async () => {
    const { sim, sender, receiver } = pair({ up: { bandwidthBps: 1e6, delayMs: 10 } });
    const rx = await receiver.udp.bind({ port: 9 });
    const tx = await sender.udp.bind();
    let at = 0;
    rx.onMessage(() => {
      at = sim.now() - DEFAULT_START_TIME;
    });
    tx.send(rx.localAddress(), new Uint8Array(1000 - UDP_IP_OVERHEAD));
    await sim.run();
    expect(at).toBeCloseTo(10 + 8, 3); // 1000 bytes at 1 Mbit/s = 8 ms
  });
});
