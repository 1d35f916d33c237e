import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createCdn,
  createHttpOrigin,
  createManifestRegistry,
  createPieceCache,
  createPieceProvider,
  createStoreOrigin,
  type Origin,
} from '../../edge/index.ts';
import type { HttpClient } from '../../runtime/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { createManualClock } from './helpers/manual-clock.ts';
import { createMemoryStore } from './helpers/memory-store.ts';
import { publishTestRelease } from './helpers/release.ts';

const PIECE = 64 * 1024;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(
  options: { capacityPieces?: number; memoryBytes?: number; origin?: (o: Origin) => Origin } = {},
) {
  const store = createMemoryStore();
  const release = await publishTestRelease(store, { size: 10 * PIECE + 1234, pieceLength: PIECE });
  const dir = mkdtempSync(join(tmpdir(), 'piece-cache-'));
  dirs.push(dir);
  const clock = createManualClock();
  const baseOrigin = createStoreOrigin(store);
  const origin = options.origin ? options.origin(baseOrigin) : baseOrigin;
  const make = async () => {
    const cache = createPieceCache({ dir, capacityBytes: (options.capacityPieces ?? 100) * PIECE });
    const opened = await cache.open();
    const manifests = createManifestRegistry({ trusted: release.trusted }, { origin, clock });
    const provider = createPieceProvider(
      { memoryBytes: options.memoryBytes ?? 0 },
      { manifests, cache, origin },
    );
    return { cache, provider, opened };
  };
  const objectReads = () => store.reads.filter((r) => r.key === release.manifest.object);
  return { store, release, dir, make, objectReads, clock, ...(await make()) };
}

const piecesOnDisk = (dir: string) =>
  readdirSync(join(dir, 'pieces')).flatMap((p) =>
    readdirSync(join(dir, 'pieces', p)).map((n) => join(dir, 'pieces', p, n)),
  );

describe('piece cache and origin pull', () => {
  it('serves verified pieces, pulling each from the origin once', async () => {
    const { provider, release, objectReads } = await setup();
    for (const index of [0, 3, 10]) {
      const { bytes } = await provider.getPiece(release.id, index);
      const start = index * PIECE;
      expect(
        Buffer.compare(Buffer.from(bytes), Buffer.from(release.data.subarray(start, start + PIECE))),
      ).toBe(0);
    }
    await provider.getPiece(release.id, 3);
    expect(objectReads()).toHaveLength(3);
    expect(provider.stats().cacheHits).toBe(1);
  });

  it('50 simultaneous misses for one piece cause exactly one origin read', async () => {
    const { provider, release, objectReads } = await setup();
    const results = await Promise.all(Array.from({ length: 50 }, () => provider.getPiece(release.id, 5)));
    expect(new Set(results.map((r) => Buffer.from(r.bytes).toString('hex'))).size).toBe(1);
    expect(objectReads()).toHaveLength(1);
  });

  it('keeps the disk cache under its byte cap, evicting the least recently used piece', async () => {
    const { provider, release, cache, dir, objectReads } = await setup({ capacityPieces: 3 });
    for (const index of [0, 1, 2]) await provider.getPiece(release.id, index);
    await provider.getPiece(release.id, 0); // 0 is now most recent; 1 is the LRU
    await provider.getPiece(release.id, 3); // evicts 1
    await provider.getPiece(release.id, 4); // evicts 2
    expect(cache.stats().bytes).toBeLessThanOrEqual(3 * PIECE);
    expect(cache.stats().evictions).toBe(2);
    // Evicted files are unlinked in the background; on a busy machine that takes more than one turn.
    await vi.waitFor(() => expect(piecesOnDisk(dir)).toHaveLength(3), { timeout: 5000, interval: 20 });
    const before = objectReads().length;
    await provider.getPiece(release.id, 0); // still cached
    expect(objectReads()).toHaveLength(before);
    await provider.getPiece(release.id, 1); // evicted: back to origin
    expect(objectReads()).toHaveLength(before + 1);
  });

  it('detects a corrupted cached piece and refetches it from the origin', async () => {
    const { provider, release, cache, dir, objectReads } = await setup();
    await provider.getPiece(release.id, 2);
    const sha = release.manifest.pieces[2]!;
    const file = piecesOnDisk(dir).find((p) => p.endsWith(sha));
    expect(file).toBeDefined();
    writeFileSync(file!, Buffer.alloc(PIECE, 0xee));
    const { bytes } = await provider.getPiece(release.id, 2);
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(release.data.subarray(2 * PIECE, 3 * PIECE)))).toBe(
      0,
    );
    expect(cache.stats().corrupt).toBe(1);
    expect(objectReads()).toHaveLength(2);
  });

  it('reuses the cache after a restart, re-checking it and dropping damaged pieces', async () => {
    const { provider, release, dir, make, objectReads } = await setup();
    for (const index of [0, 1, 2, 3]) await provider.getPiece(release.id, index);
    const victim = piecesOnDisk(dir).find((p) => p.endsWith(release.manifest.pieces[1]!))!;
    writeFileSync(victim, 'torn write');
    const restarted = await make();
    expect(restarted.opened).toEqual({ kept: 3, dropped: 1 });
    const reads = objectReads().length;
    for (const index of [0, 2, 3]) await restarted.provider.getPiece(release.id, index);
    expect(objectReads()).toHaveLength(reads);
    await restarted.provider.getPiece(release.id, 1);
    expect(objectReads()).toHaveLength(reads + 1);
  });

  it('names unknown releases and out-of-range pieces with stable codes', async () => {
    const { provider, release } = await setup();
    await expect(provider.getPiece('fw@9.9.9', 0)).rejects.toMatchObject({ code: 'UNKNOWN_RELEASE' });
    await expect(provider.getPiece('not an id', 0)).rejects.toMatchObject({ code: 'UNKNOWN_RELEASE' });
    await expect(provider.getPiece(release.id, 11)).rejects.toMatchObject({ code: 'PIECE_OUT_OF_RANGE' });
    await expect(provider.getPiece(release.id, -1)).rejects.toMatchObject({ code: 'PIECE_OUT_OF_RANGE' });
  });

  it('never caches or serves a piece the origin corrupted', async () => {
    const { provider, release, cache } = await setup({
      origin: (o) => ({
        ...o,
        readRange: async (key, start, end) => {
          const bytes = await o.readRange(key, start, end);
          if (start === 7 * PIECE) bytes[10] = bytes[10]! ^ 1;
          return bytes;
        },
      }),
    });
    await expect(provider.getPiece(release.id, 7)).rejects.toMatchObject({ code: 'ORIGIN_CORRUPT' });
    expect(cache.has(release.manifest.pieces[7]!)).toBe(false);
    expect(provider.stats().originCorrupt).toBe(2);
  });

  it('pulls from an upstream CDN over HTTP Range', async () => {
    const store = createMemoryStore();
    const release = await publishTestRelease(store, { size: 4 * PIECE, pieceLength: PIECE, seed: 9 });
    const clock = createManualClock();
    const cdn = createCdn({}, { store, clock, logger: createSilentLogger() });
    const http: HttpClient = {
      async request(req) {
        const url = new URL(req.url);
        const res = await cdn.app.inject({ method: req.method, url: url.pathname, headers: req.headers });
        return {
          status: res.statusCode,
          headers: res.headers as Record<string, string>,
          body: new Uint8Array(res.rawPayload),
        };
      },
    };
    const origin = createHttpOrigin('http://cdn.test/', { http });
    const dir = mkdtempSync(join(tmpdir(), 'piece-cache-'));
    dirs.push(dir);
    const cache = createPieceCache({ dir, capacityBytes: 10 * PIECE });
    await cache.open();
    const manifests = createManifestRegistry({ trusted: release.trusted }, { origin, clock });
    const provider = createPieceProvider({}, { manifests, cache, origin });
    const { bytes } = await provider.getPiece(release.id, 3);
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(release.data.subarray(3 * PIECE)))).toBe(0);
    expect(cdn.billing().releases['fw@1.0.0']!.bytes).toBeGreaterThanOrEqual(PIECE);
    await expect(provider.getPiece('fw@2.0.0', 0)).rejects.toMatchObject({ code: 'UNKNOWN_RELEASE' });
  });
});
