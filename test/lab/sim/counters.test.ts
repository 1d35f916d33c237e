import { describe, expect, it } from 'vitest';
import { createSimulation, natPresets } from '../../../lab/sim/index.ts';

describe('counters', () => {
  it('account bytes per host, per link direction, between ISPs, and drops by cause', async () => {
    const sim = createSimulation({ seed: 8 });
    const region = sim.addRegion({ name: 'r' });
    const ispA = sim.addIsp({ name: 'a', region });
    const ispB = sim.addIsp({ name: 'b', region });
    const a1 = sim.addHost({ isp: ispA, name: 'a1' });
    const a2 = sim.addHost({ isp: ispA, name: 'a2' });
    const b1 = sim.addHost({ gateway: sim.addGateway({ isp: ispB, nat: natPresets.fullCone }), name: 'b1' });
    const s1 = await a1.udp.bind({ port: 1 });
    const s2 = await a2.udp.bind({ port: 1 });
    const s3 = await b1.udp.bind({ port: 1 });
    const events: string[] = [];
    sim.onDeliver((e) => events.push(`${e.protocol} ${e.from.name}>${e.to.name} ${e.bytes}`));
    s1.send(s2.localAddress(), new Uint8Array(100));
    s1.send(s2.localAddress(), new Uint8Array(50));
    s3.send(s1.localAddress(), new Uint8Array(70));
    s1.send({ host: '8.8.8.8', port: 53 }, new Uint8Array(10)); // nobody there
    s1.send({ host: a2.address, port: 99 }, new Uint8Array(10)); // port closed
    await sim.run();
    expect(a1.counters).toMatchObject({ udpTxPackets: 4, udpTxBytes: 170, udpRxPackets: 1, udpRxBytes: 70 });
    expect(a2.counters).toMatchObject({ udpRxPackets: 2, udpRxBytes: 150 });
    expect(a1.counters.dropped['no-route']).toBe(1);
    expect(a1.counters.dropped['no-listener']).toBe(1);
    const stats = sim.stats();
    expect(stats.ispBytes).toEqual({ 'a>a': 150, 'b>a': 70 });
    expect(stats).toMatchObject({ sent: 5, delivered: 3, deliveredBytes: 220 });
    const up = sim.links().find((l) => l.name === 'a1->a')!.counters;
    const down = sim.links().find((l) => l.name === 'a->a1')!.counters;
    expect([up.packets, up.bytes, down.packets, down.bytes]).toEqual([4, 170, 1, 70]);
    expect(events).toEqual(['udp a1>a2 100', 'udp a1>a2 50', 'udp b1>a1 70']);
    sim.serveHttp(a2, 80, () => ({ status: 200, headers: {}, body: new Uint8Array(1000) }));
    await sim.settle(a1.http.request({ method: 'GET', url: `http://${a2.address}/x` }));
    expect(events.slice(3)).toEqual([
      `http a1>a2 ${a1.counters.httpTxBytes}`,
      `http a2>a1 ${a1.counters.httpRxBytes}`,
    ]);
    expect(a1.counters.httpRxBytes).toBeGreaterThan(1000);
    expect(a1.meta).toMatchObject({ isp: 'a', region: 'r', behindCgn: false });
    expect(b1.meta).toMatchObject({ isp: 'b', gateway: b1.gateway!.name });
  });
});
