import { gzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createSimulation, DEFAULT_START_TIME, natPresets } from '../../../lab/sim/index.ts';

function world() {
  const sim = createSimulation({ seed: 3 });
  const region = sim.addRegion({ name: 'r', link: { delayMs: 0 } });
  // CDN: 1 Gbit/s, 5 ms to the region.
  const cdn = sim.addServer({ name: 'cdn', region, link: { bandwidthBps: 1e9, delayMs: 5 } });
  const isp = sim.addIsp({ name: 'isp', region, link: { delayMs: 0 }, cgn: natPresets.cgnEim });
  return { sim, region, cdn, isp };
}

describe('HTTP channel', () => {
  it('offers gzip like fetch, carries the encoded bytes and hands back the decoded body', async () => {
    const { sim, cdn, isp } = world();
    const doc = Buffer.from(
      JSON.stringify({ pieces: Array.from({ length: 200 }, (_, i) => `${i}`.repeat(64)) }),
    );
    let offered: string | undefined;
    sim.serveHttp(cdn, 80, (request) => {
      offered = request.headers?.['accept-encoding'];
      const gz = gzipSync(doc);
      return { status: 200, headers: { 'content-encoding': 'gzip' }, body: new Uint8Array(gz) };
    });
    const device = sim.addHost({ gateway: sim.addGateway({ isp, link: { delayMs: 10 } }) });
    const res = await sim.settle(device.http.request({ method: 'GET', url: 'http://cdn/m.json' }));
    expect(offered).toMatch(/gzip/);
    expect(Buffer.compare(Buffer.from(res.body), doc)).toBe(0);
    // The network carried the compressed body (plus headers), not the document.
    expect(device.node.counters.httpRxBytes).toBeLessThan(doc.length / 4);
  });

  it('a body that does not decode is an HTTP client error, not a crash', async () => {
    const { sim, cdn, isp } = world();
    sim.serveHttp(cdn, 80, () => ({
      status: 200,
      headers: { 'content-encoding': 'gzip' },
      body: new TextEncoder().encode('not gzip at all'),
    }));
    const device = sim.addHost({ gateway: sim.addGateway({ isp, link: { delayMs: 10 } }) });
    await expect(sim.settle(device.http.request({ method: 'GET', url: 'http://cdn/x' }))).rejects.toThrow(
      /http:\/\/cdn\/x/,
    );
  });

  it('runs a real fastify app via inject, with the client NATed address as request.ip', async () => {
    const { sim, cdn, isp } = world();
    const app = Fastify();
    app.get('/whoami', async (request) => ({ ip: request.ip, host: request.headers.host }));
    app.post('/echo', async (request) => ({ got: (request.body as { n: number }).n }));
    sim.serveHttp(cdn, 80, app);
    const gateway = sim.addGateway({ isp, link: { delayMs: 10 } });
    const device = sim.addHost({ gateway });
    const res = await sim.settle(device.http.request({ method: 'GET', url: 'http://cdn/whoami' }));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(new TextDecoder().decode(res.body))).toEqual({ ip: isp.cgn!.pool[0], host: 'cdn' });
    // handshake RTT (2 x 15) + request (15) + response (15), bandwidth terms are negligible
    expect(sim.now() - DEFAULT_START_TIME).toBeCloseTo(60, 0);
    const post = await sim.settle(
      device.http.request({
        method: 'POST',
        url: 'http://cdn/echo',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ n: 42 }),
      }),
    );
    expect(JSON.parse(new TextDecoder().decode(post.body))).toEqual({ got: 42 });
    await app.close();
  });

  it('shares bottleneck bandwidth max-min fairly between concurrent downloads', async () => {
    const { sim, cdn, isp } = world();
    const size = 1_000_000;
    sim.serveHttp(cdn, 80, () => ({ status: 200, headers: {}, body: new Uint8Array(size) }));
    // Each download is limited by its own access link, not by the other.
    const fast = sim.addHost({
      gateway: sim.addGateway({ isp, link: { delayMs: 0, down: { bandwidthBps: 100e6 } } }),
    });
    const slow = sim.addHost({
      gateway: sim.addGateway({ isp, link: { delayMs: 0, down: { bandwidthBps: 2e6 } } }),
    });
    const done: Record<string, number> = {};
    const get = async (name: string, host: typeof fast) => {
      await host.http.request({ method: 'GET', url: 'http://cdn/blob' });
      done[name] = sim.now() - DEFAULT_START_TIME;
    };
    await sim.settle(Promise.all([get('fast', fast), get('slow', slow)]));
    // slow is limited by its own 2 Mbit/s (4 s for 1 MB); fast gets the rest of the 1 Gbit/s CDN link.
    expect(done.slow! / 1000).toBeCloseTo((size * 8) / 2e6, 1);
    expect(done.fast!).toBeLessThan(200);
  });

  it('splits a shared link equally and gives the leftover to the unconstrained flow', async () => {
    const sim = createSimulation({ seed: 3 });
    const region = sim.addRegion({ name: 'r', link: { delayMs: 0 } });
    const cdn = sim.addServer({ name: 'cdn', region, link: { up: { bandwidthBps: 12e6 }, delayMs: 0 } });
    const isp = sim.addIsp({ name: 'isp', region, link: { delayMs: 0 } });
    const size = 1_500_000;
    sim.serveHttp(cdn, 80, () => ({ status: 200, headers: {}, body: new Uint8Array(size) }));
    const mk = (bps: number) =>
      sim.addHost({ gateway: sim.addGateway({ isp, link: { delayMs: 0, down: { bandwidthBps: bps } } }) });
    const hosts = [mk(2e6), mk(100e6), mk(100e6)];
    const finish: number[] = [];
    await sim.settle(
      Promise.all(
        hosts.map(async (h, i) => {
          await h.http.request({ method: 'GET', url: 'http://cdn/x' });
          finish[i] = (sim.now() - DEFAULT_START_TIME) / 1000;
        }),
      ),
    );
    // Max-min: the 2 Mbit/s host gets 2, the other two split the remaining 10 -> 5 each.
    // Both fast ones finish 1.5 MB at 5 Mbit/s = 2.4 s; then the slow one finishes at 6 s.
    expect(finish[1]).toBeCloseTo(2.4, 1);
    expect(finish[2]).toBeCloseTo(2.4, 1);
    expect(finish[0]).toBeCloseTo(6, 1);
    const cdnLink = sim.links().find((l) => l.name === 'cdn->r')!;
    expect(cdnLink.counters.httpBytes).toBeGreaterThan(3 * size);
  });

  it('fails like TCP: refused after a round trip, unreachable after the connect timeout, abortable', async () => {
    const { sim, cdn, isp } = world();
    const gateway = sim.addGateway({ isp });
    const device = sim.addHost({ gateway });
    // A private address in another home: not routable from this one.
    const other = sim.addHost({ gateway: sim.addGateway({ isp, lanPrefix: '10.0.0' }) });
    sim.serveHttp(other, 80, () => ({ status: 200, headers: {}, body: new Uint8Array() }));
    await expect(sim.settle(device.http.request({ method: 'GET', url: 'http://cdn/x' }))).rejects.toThrow(
      /ECONNREFUSED/,
    );
    const t0 = sim.now();
    await expect(
      sim.settle(device.http.request({ method: 'GET', url: `http://${other.address}/` })),
    ).rejects.toThrow(/ETIMEDOUT/);
    expect(sim.now() - t0).toBe(10_000);
    await expect(sim.settle(device.http.request({ method: 'GET', url: 'http://nowhere/' }))).rejects.toThrow(
      /ENOTFOUND/,
    );
    sim.serveHttp(cdn, 80, () => ({ status: 200, headers: {}, body: new Uint8Array(10_000_000) }));
    const controller = new AbortController();
    sim.clock.setTimer(100, () => controller.abort(new Error('user gave up')));
    await expect(
      sim.settle(device.http.request({ method: 'GET', url: 'http://cdn/big', signal: controller.signal })),
    ).rejects.toThrow('user gave up');
    expect(device.counters.httpRequests).toBe(4);
  });
});

describe('held server work', () => {
  it('a handler that reads files holds virtual time; one that waits on virtual time is released', async () => {
    const { readFile } = await import('node:fs/promises');
    const { sleep } = await import('../../../runtime/index.ts');
    const { sim, cdn } = world();
    const app = Fastify();
    app.get('/file', async () => ({ size: (await readFile(import.meta.filename)).length }));
    app.get('/slow', async () => {
      await sleep(sim.clock, 1000); // a handler that itself needs virtual time to pass
      return { slow: true };
    });
    sim.serveHttp(cdn, 80, app);
    const client = sim.addServer({ name: 'client', link: { delayMs: 0 } });
    const t0 = sim.now();
    const file = await sim.settle(client.http.request({ method: 'GET', url: 'http://cdn/file' }));
    expect(JSON.parse(new TextDecoder().decode(file.body)).size).toBeGreaterThan(100);
    const fileMs = sim.now() - t0;
    const t1 = sim.now();
    const wallStart = Date.now();
    const slow = await sim.settle(client.http.request({ method: 'GET', url: 'http://cdn/slow' }));
    expect(slow.status).toBe(200);
    expect(sim.now() - t1).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - wallStart).toBeLessThan(2000);
    // Same request again, same virtual duration: reading the file took no virtual time.
    const t2 = sim.now();
    await sim.settle(client.http.request({ method: 'GET', url: 'http://cdn/file' }));
    expect(sim.now() - t2).toBeLessThanOrEqual(fileMs);
    await app.close();
  });
});
