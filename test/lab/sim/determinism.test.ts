import { describe, expect, it } from 'vitest';
import { createSimulation, natPresets, profiles } from '../../../lab/sim/index.ts';

/**
 * A busy little scenario: lossy, jittery mobile links, NATs of several kinds, a CGN, random NAT
 * ports, duplication and reordering, timers, promise chains and HTTP with shared bandwidth.
 */
async function scenario(seed: number): Promise<{ hash: string; stats: string }> {
  const sim = createSimulation({ seed });
  const eu = sim.addRegion({ name: 'eu' });
  const asia = sim.addRegion({ name: 'asia', link: { delayMs: 80, jitterMs: 5 } });
  const ispA = sim.addIsp({ name: 'a', region: eu });
  const ispB = sim.addIsp({ name: 'b', region: asia, cgn: { ...natPresets.cgnSymmetric, poolSize: 2 } });
  const server = sim.addServer({ name: 'server', region: eu });
  sim.serveHttp(server, 80, (req) => ({
    status: 200,
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(20_000 + req.path.length),
  }));
  const srv = await server.udp.bind({ port: 7 });
  srv.onMessage((bytes, from) => srv.send(from, bytes));
  const hosts = [
    sim.addHost({ gateway: sim.addGateway({ isp: ispA, nat: natPresets.symmetric }) }),
    sim.addHost({
      gateway: sim.addGateway({ isp: ispA, nat: natPresets.portRestricted }),
      link: profiles.wifi(),
    }),
    sim.addHost({ isp: ispB, link: { ...profiles.country('India'), duplicate: 0.05, reorder: 0.05 } }),
    sim.addHost({ isp: ispB, link: profiles.country('Brazil', { burstPackets: 3 }) }),
  ];
  let finished = 0;
  await Promise.all(
    hosts.map(async (host, i) => {
      const socket = await host.udp.bind();
      let n = 0;
      const tick = (): void => {
        socket.send(srv.localAddress(), host.random.bytes(100 + host.random.int(1000)));
        if (++n < 200) sim.clock.setTimer(5 + host.random.int(20), tick);
      };
      sim.clock.setTimer(i, tick);
      void (async () => {
        for (let r = 0; r < 3; r++) {
          await host.http.request({ method: 'GET', url: `http://server/object/${i}/${r}` });
        }
        finished++;
      })();
    }),
  );
  await sim.run({ until: () => finished === hosts.length && sim.stats().sent >= 1600 });
  await sim.run({ deadlineMs: 5_000 });
  const stats = sim.stats();
  return { hash: sim.traceHash(), stats: JSON.stringify(stats) };
}

describe('determinism', () => {
  it('the same seed gives the same trace hash and counters; another seed differs', async () => {
    const a = await scenario(1234);
    const b = await scenario(1234);
    const c = await scenario(4321);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.hash).toBe(a.hash);
    expect(b.stats).toBe(a.stats);
    expect(c.hash).not.toBe(a.hash);
  });
});
