import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptsGzip, gzipEtag } from '../../edge/cdn/compress.ts';
import { createCdn } from '../../edge/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { createNodeHttpClient } from '../../runtime/node/index.ts';
import { createManualClock } from './helpers/manual-clock.ts';
import { createMemoryStore } from './helpers/memory-store.ts';

// A manifest-like document: mostly hex piece hashes, the part gzip halves.
const random = createSeededRandom(11);
const hashes = Array.from({ length: 64 }, () => Buffer.from(random.bytes(32)).toString('hex'));
const MANIFEST = new TextEncoder().encode(JSON.stringify({ signed: { pieces: hashes } }, null, 2));
const MANIFEST_KEY = 'releases/fw/1.0.0/manifest.json';
const BLOB_KEY = 'releases/fw/1.0.0/firmware.bin';
const BLOB = new TextEncoder().encode('{"looks":"like json","but":"is the blob"}'.repeat(200));

function setup() {
  const store = createMemoryStore({ [MANIFEST_KEY]: MANIFEST, [BLOB_KEY]: BLOB });
  return createCdn({ chunkBytes: 1024 }, { store, clock: createManualClock(), logger: createSilentLogger() });
}

describe('cdn gzip for documents', () => {
  it('sends a whole JSON document gzipped to a client that accepts it, and bills the gzipped bytes', async () => {
    const cdn = setup();
    const res = await cdn.app.inject({
      method: 'GET',
      url: `/${MANIFEST_KEY}`,
      headers: { 'accept-encoding': 'br, gzip;q=0.8' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers.vary).toBe('accept-encoding');
    expect(Number(res.headers['content-length'])).toBe(res.rawPayload.length);
    expect(Buffer.compare(gunzipSync(res.rawPayload), Buffer.from(MANIFEST))).toBe(0);
    // Hex hashes gzip to well under two thirds; the bill is what went on the wire.
    expect(res.rawPayload.length).toBeLessThan(MANIFEST.length * 0.65);
    expect(cdn.billing().keys[MANIFEST_KEY]!.bytes).toBe(res.rawPayload.length);
  });

  it('sends identity without Accept-Encoding, for a range, for a HEAD and for the blob', async () => {
    const cdn = setup();
    const plain = await cdn.app.inject({ method: 'GET', url: `/${MANIFEST_KEY}` });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(Buffer.compare(plain.rawPayload, Buffer.from(MANIFEST))).toBe(0);
    const refused = await cdn.app.inject({
      method: 'GET',
      url: `/${MANIFEST_KEY}`,
      headers: { 'accept-encoding': 'gzip;q=0, identity' },
    });
    expect(refused.headers['content-encoding']).toBeUndefined();
    const ranged = await cdn.app.inject({
      method: 'GET',
      url: `/${MANIFEST_KEY}`,
      headers: { 'accept-encoding': 'gzip', range: 'bytes=10-99' },
    });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.headers['content-encoding']).toBeUndefined();
    expect(Buffer.compare(ranged.rawPayload, Buffer.from(MANIFEST.subarray(10, 100)))).toBe(0);
    const blob = await cdn.app.inject({
      method: 'GET',
      url: `/${BLOB_KEY}`,
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(blob.headers['content-encoding']).toBeUndefined();
    expect(blob.rawPayload.length).toBe(BLOB.length);
  });

  it('gives the gzip representation its own ETag and answers If-None-Match for it with 304', async () => {
    const cdn = setup();
    const first = await cdn.app.inject({
      method: 'GET',
      url: `/${MANIFEST_KEY}`,
      headers: { 'accept-encoding': 'gzip' },
    });
    const identity = await cdn.app.inject({ method: 'GET', url: `/${MANIFEST_KEY}` });
    expect(first.headers.etag).toBe(gzipEtag(String(identity.headers.etag)));
    expect(first.headers.etag).not.toBe(identity.headers.etag);
    const again = await cdn.app.inject({
      method: 'GET',
      url: `/${MANIFEST_KEY}`,
      headers: { 'accept-encoding': 'gzip', 'if-none-match': String(first.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
  });

  describe('over real HTTP with the runtime client (fetch)', () => {
    const cdn = setup();
    let base = '';
    beforeAll(async () => {
      await cdn.app.listen({ host: '127.0.0.1', port: 0 });
      base = `http://127.0.0.1:${(cdn.app.server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await cdn.app.close();
    });

    it('fetch offers gzip on its own and hands back the decoded document', async () => {
      const before = cdn.billing().totalBytes;
      const res = await createNodeHttpClient().request({ method: 'GET', url: `${base}/${MANIFEST_KEY}` });
      expect(res.status).toBe(200);
      expect(res.headers['content-encoding']).toBe('gzip');
      expect(Buffer.compare(Buffer.from(res.body), Buffer.from(MANIFEST))).toBe(0);
      expect(cdn.billing().totalBytes - before).toBeLessThan(MANIFEST.length * 0.65);
    });
  });
});

describe('Accept-Encoding parsing', () => {
  it.each([
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['deflate, GZIP;q=0.5', true],
    ['gzip;q=0', false],
    ['gzip;q=0.0, *', false],
    ['*', true],
    ['*;q=0', false],
    ['br, identity', false],
    ['', false],
  ])('%j -> %s', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });

  it('no header means identity', () => {
    expect(acceptsGzip(undefined)).toBe(false);
  });
});
