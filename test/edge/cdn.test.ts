import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCdn } from '../../edge/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { createNodeClock } from '../../runtime/node/index.ts';
import { createManualClock } from './helpers/manual-clock.ts';
import { createMemoryStore } from './helpers/memory-store.ts';
import { makeWebSeedTorrent } from './helpers/torrent.ts';

const run = promisify(execFile);
const KEY = 'releases/fw/1.2.3/firmware.bin';
const data = createSeededRandom(7).bytes(3 * 1024 * 1024 + 12_345);
const logger = createSilentLogger();

function setup(options = {}) {
  const store = createMemoryStore({
    [KEY]: data,
    'channels/fw/stable.json': new TextEncoder().encode('{"v":1}'),
  });
  const cdn = createCdn(
    { chunkBytes: 256 * 1024, ...options },
    { store, clock: createManualClock(), logger },
  );
  return { store, cdn };
}

describe('cdn (inject)', () => {
  it('serves a whole object with length, ETag and Accept-Ranges', async () => {
    const { cdn } = setup();
    const res = await cdn.app.inject({ method: 'GET', url: `/${KEY}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(data.length));
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers.etag).toMatch(/^"/);
    expect(Buffer.compare(res.rawPayload, Buffer.from(data))).toBe(0);
  });

  it('answers ranges with 206 and Content-Range, including open and suffix ranges across chunks', async () => {
    const { cdn } = setup();
    const cases: Array<[string, number, number]> = [
      ['bytes=0-0', 0, 0],
      ['bytes=262140-262150', 262140, 262150],
      [`bytes=${data.length - 10}-`, data.length - 10, data.length - 1],
      ['bytes=-100', data.length - 100, data.length - 1],
      [`bytes=5-${data.length + 1000}`, 5, data.length - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await cdn.app.inject({ method: 'GET', url: `/${KEY}`, headers: { range } });
      expect(res.statusCode, range).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${data.length}`);
      expect(Buffer.compare(res.rawPayload, Buffer.from(data.subarray(start, end + 1))), range).toBe(0);
    }
  });

  it('refuses unsatisfiable ranges with 416 and serves multi-range or malformed ranges whole', async () => {
    const { cdn } = setup();
    const bad = await cdn.app.inject({
      method: 'GET',
      url: `/${KEY}`,
      headers: { range: `bytes=${data.length}-` },
    });
    expect(bad.statusCode).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${data.length}`);
    expect((await cdn.app.inject({ url: `/${KEY}`, headers: { range: 'bytes=-0' } })).statusCode).toBe(416);
    for (const range of ['bytes=0-1,5-6', 'bytes=9-3', 'lines=1-2', 'bytes=abc']) {
      const res = await cdn.app.inject({ method: 'GET', url: `/${KEY}`, headers: { range } });
      expect(res.statusCode, range).toBe(200);
      expect(res.rawPayload.length).toBe(data.length);
    }
  });

  it('honours If-None-Match with 304 and answers HEAD without a body', async () => {
    const { cdn } = setup();
    const head = await cdn.app.inject({ method: 'HEAD', url: `/${KEY}` });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(data.length));
    expect(head.rawPayload.length).toBe(0);
    const etag = String(head.headers.etag);
    const cached = await cdn.app.inject({ url: `/${KEY}`, headers: { 'if-none-match': `"other", ${etag}` } });
    expect(cached.statusCode).toBe(304);
    expect(cached.rawPayload.length).toBe(0);
    const changed = await cdn.app.inject({ url: `/${KEY}`, headers: { 'if-none-match': '"other"' } });
    expect(changed.statusCode).toBe(200);
  });

  it('404s unknown keys and 400s traversal attempts', async () => {
    const { cdn } = setup();
    expect((await cdn.app.inject({ url: '/releases/none' })).statusCode).toBe(404);
    expect((await cdn.app.inject({ url: '/releases/..%2fchannels/x' })).statusCode).toBe(400);
  });

  it('caches chunks: a second full read does not touch the store again', async () => {
    const { cdn, store } = setup();
    await cdn.app.inject({ url: `/${KEY}` });
    const reads = store.reads.length;
    expect(reads).toBe(Math.ceil(data.length / (256 * 1024)));
    await cdn.app.inject({ url: `/${KEY}` });
    await cdn.app.inject({ url: `/${KEY}`, headers: { range: 'bytes=1000-2000' } });
    expect(store.reads.length).toBe(reads);
    expect(cdn.cacheStats().chunkHits).toBeGreaterThan(0);
  });

  it('concurrent misses for one chunk cause one store read', async () => {
    const { cdn, store } = setup();
    await Promise.all(
      Array.from({ length: 20 }, () =>
        cdn.app.inject({ url: `/${KEY}`, headers: { range: 'bytes=300000-300100' } }),
      ),
    );
    expect(store.reads.filter((r) => r.start === 262144).length).toBe(1);
  });

  it('keeps the cache within its byte cap', async () => {
    const { cdn } = setup({ cacheBytes: 600 * 1024 });
    await cdn.app.inject({ url: `/${KEY}` });
    expect(cdn.cacheStats().cachedBytes).toBeLessThanOrEqual(600 * 1024);
    // 13 chunks were read; only the most recent (two full ones and the short tail) fit.
    expect(cdn.cacheStats().cachedChunks).toBe(3);
  });

  it('bills bytes per client and per release, and exposes the report at the admin route', async () => {
    const { cdn } = setup();
    await cdn.app.inject({ url: `/${KEY}`, remoteAddress: '10.0.0.1' });
    await cdn.app.inject({ url: `/${KEY}`, headers: { range: 'bytes=0-99' }, remoteAddress: '10.0.0.2' });
    await cdn.app.inject({ url: `/${KEY}`, headers: { range: 'bytes=0-99' }, remoteAddress: '10.0.0.2' });
    await cdn.app.inject({ url: '/channels/fw/stable.json', remoteAddress: '10.0.0.2' });
    const report = (await cdn.app.inject({ url: '/_admin/billing' })).json();
    expect(report.clients['10.0.0.1']).toEqual({ bytes: data.length, requests: 1 });
    expect(report.clients['10.0.0.2']).toEqual({ bytes: 207, requests: 3 });
    expect(report.releases['fw@1.2.3']).toEqual({ bytes: data.length + 200, requests: 3 });
    expect(report.releases['channels/']).toEqual({ bytes: 7, requests: 1 });
    expect(report.totalBytes).toBe(data.length + 207);
    expect(report.status).toEqual({ '200': 2, '206': 2 });
  });

  it('revalidates metadata so a replaced object is not served stale', async () => {
    const store = createMemoryStore({ 'channels/fw/stable.json': new TextEncoder().encode('{"v":1}') });
    const clock = createManualClock();
    const cdn = createCdn({ metadataTtlMs: 1000 }, { store, clock, logger });
    expect((await cdn.app.inject({ url: '/channels/fw/stable.json' })).body).toBe('{"v":1}');
    store.objects.set('channels/fw/stable.json', new TextEncoder().encode('{"v":2}'));
    await clock.advance(1001);
    expect((await cdn.app.inject({ url: '/channels/fw/stable.json' })).body).toBe('{"v":2}');
  });

  it('caps total egress with a token bucket over the injected clock', async () => {
    const clock = createManualClock();
    const store = createMemoryStore({ [KEY]: data });
    // 1 MB/s, 64 KiB burst: 3 MiB takes about 3 s of virtual time.
    const cdn = createCdn({ rateBytesPerSecond: 1_000_000 }, { store, clock, logger });
    let done = false;
    const pending = cdn.app.inject({ url: `/${KEY}` }).then((r) => {
      done = true;
      return r;
    });
    await clock.advance(0);
    for (let t = 0; t < 2500 && !done; t += 50) {
      await clock.advance(50);
      await new Promise((r) => setImmediate(r));
    }
    expect(done).toBe(false);
    for (let t = 0; t < 3000 && !done; t += 50) {
      await clock.advance(50);
      await new Promise((r) => setImmediate(r));
    }
    expect(done).toBe(true);
    expect((await pending).rawPayload.length).toBe(data.length);
  });
});

describe('cdn (real HTTP on 127.0.0.1)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdn-'));
  const store = createMemoryStore({ [KEY]: data });
  const cdn = createCdn({ chunkBytes: 256 * 1024 }, { store, clock: createNodeClock(), logger });
  let base = '';
  beforeAll(async () => {
    base = await cdn.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await cdn.app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('curl --range receives exactly the requested bytes', async () => {
    const out = join(dir, 'range.bin');
    const { stdout } = await run('curl', [
      '-s',
      '-o',
      out,
      '-w',
      '%{http_code} %{size_download}',
      '--range',
      '1000-1999',
      `${base}/${KEY}`,
    ]);
    expect(stdout).toBe('206 1000');
    expect(Buffer.compare(readFileSync(out), Buffer.from(data.subarray(1000, 2000)))).toBe(0);
    const { stdout: bad } = await run('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--range',
      `${data.length}-`,
      `${base}/${KEY}`,
    ]);
    expect(bad).toBe('416');
  });

  it('aria2c downloads a real .torrent with the CDN as BEP 19 web seed, byte-exact, and the report counts it', async () => {
    const before = cdn.billing().totalBytes;
    const torrent = join(dir, 'fw.torrent');
    writeFileSync(torrent, makeWebSeedTorrent('firmware.bin', data, 256 * 1024, `${base}/${KEY}`));
    await run(
      'aria2c',
      [
        '--dir',
        join(dir, 'aria'),
        '--seed-time=0',
        '--enable-dht=false',
        '--enable-dht6=false',
        '--bt-enable-lpd=false',
        '--enable-peer-exchange=false',
        `--listen-port=${20000 + Math.floor(Math.random() * 20000)}`,
        '--file-allocation=none',
        '--console-log-level=warn',
        '--summary-interval=0',
        '--check-integrity=true',
        torrent,
      ],
      { timeout: 30_000 },
    );
    const got = readFileSync(join(dir, 'aria', 'firmware.bin'));
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
    const report = cdn.billing();
    // aria2c may fetch some bytes twice (split ranges), never fewer than the file.
    expect(report.totalBytes - before).toBeGreaterThanOrEqual(data.length);
    expect(report.clients['127.0.0.1']!.bytes).toBe(report.totalBytes);
    expect(report.releases['fw@1.2.3']!.bytes).toBe(report.totalBytes);
  });
});

describe('`swarmlane cdn` process', () => {
  it('serves a file store and writes the billing report on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdn-proc-'));
    try {
      const storeDir = join(dir, 'store');
      mkdirSync(join(storeDir, 'releases', 'fw', '1.2.3'), { recursive: true });
      writeFileSync(join(storeDir, KEY), data);
      const report = join(dir, 'billing.json');
      const child = spawn(
        process.execPath,
        [
          join(import.meta.dirname, '..', '..', 'bin', 'swarmlane.mjs'),
          'cdn',
          '--listen',
          '127.0.0.1:0',
          '--store',
          pathToFileURL(storeDir).href,
          '--report',
          report,
          '--rate',
          '1000',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const base = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = /cdn listening on (\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`cdn exited ${code}`)));
      });
      const { stdout } = await run('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{size_download}',
        '--range',
        '100-4195',
        `${base}/${KEY}`,
      ]);
      expect(stdout).toBe('206 4096');
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      const billing = JSON.parse(readFileSync(report, 'utf8'));
      expect(billing.totalBytes).toBe(4096);
      expect(billing.releases['fw@1.2.3']).toEqual({ bytes: 4096, requests: 1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
