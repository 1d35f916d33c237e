import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSizedLru } from './lru.ts';

/**
 * The edge's piece cache on disk, content-addressed by the piece's SHA-256 (so identical pieces of two
 * releases are stored once) and bounded by a byte cap with LRU eviction. Every read is re-hashed before
 * it is returned: a piece corrupted on disk (bit rot, a bad write, tampering) is deleted and reported
 * as a miss, so the caller refetches it from the origin. Writes go to a temporary file renamed into
 * place, so a crash never leaves a half-written piece under its name. `open()` rebuilds the index from
 * the directory after a restart, re-checking every file and dropping the bad ones.
 *
 * Layout: `<dir>/pieces/<first 2 hex>/<sha256 hex>`, `<dir>/tmp/` for writes in progress.
 */
export interface PieceCacheStats {
  hits: number;
  misses: number;
  corrupt: number;
  evictions: number;
  writes: number;
  bytes: number;
  pieces: number;
  capacityBytes: number;
}

export interface PieceCache {
  /** Scans the directory (restart), verifies every piece, drops bad ones. Call once before use. */
  open(): Promise<{ kept: number; dropped: number }>;
  /** Verified bytes of the piece with this SHA-256, or null (absent or found corrupt and removed). */
  get(sha256: string): Promise<Uint8Array | null>;
  /** Stores a piece the caller has verified against `sha256`. */
  put(sha256: string, bytes: Uint8Array): Promise<void>;
  has(sha256: string): boolean;
  stats(): PieceCacheStats;
}

export interface PieceCacheOptions {
  dir: string;
  capacityBytes: number;
}

const HEX64 = /^[0-9a-f]{64}$/;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function createPieceCache(options: PieceCacheOptions): PieceCache {
  const piecesDir = join(options.dir, 'pieces');
  const tmpDir = join(options.dir, 'tmp');
  const pathOf = (sha: string): string => join(piecesDir, sha.slice(0, 2), sha);
  const stats = { hits: 0, misses: 0, corrupt: 0, evictions: 0, writes: 0 };
  let tmpCounter = 0;
  const index = createSizedLru<true>(options.capacityBytes, (sha) => {
    stats.evictions++;
    void unlink(pathOf(sha)).catch(() => {});
  });

  const drop = async (sha: string): Promise<void> => {
    index.delete(sha);
    await unlink(pathOf(sha)).catch(() => {});
  };

  return {
    async open() {
      await mkdir(piecesDir, { recursive: true });
      await rm(tmpDir, { recursive: true, force: true });
      await mkdir(tmpDir, { recursive: true });
      const found: Array<{ sha: string; size: number; mtime: number }> = [];
      let dropped = 0;
      for (const prefix of await readdir(piecesDir)) {
        const sub = join(piecesDir, prefix);
        for (const name of await readdir(sub).catch(() => [] as string[])) {
          const path = join(sub, name);
          const bytes = await readFile(path).catch(() => null);
          if (!bytes || !HEX64.test(name) || name.slice(0, 2) !== prefix || sha256Hex(bytes) !== name) {
            dropped++;
            await rm(path, { recursive: true, force: true });
            continue;
          }
          const info = await stat(path);
          found.push({ sha: name, size: bytes.byteLength, mtime: info.mtimeMs });
        }
      }
      // Oldest first, so the most recently written pieces are the most recently used after a restart.
      found.sort((a, b) => a.mtime - b.mtime);
      for (const piece of found) index.set(piece.sha, true, piece.size);
      return { kept: index.count, dropped: dropped + (found.length - index.count) };
    },
    has: (sha) => index.has(sha),
    async get(sha) {
      if (!index.has(sha)) {
        stats.misses++;
        return null;
      }
      const bytes = await readFile(pathOf(sha)).catch(() => null);
      if (!bytes || sha256Hex(bytes) !== sha) {
        stats.corrupt++;
        stats.misses++;
        await drop(sha);
        return null;
      }
      index.get(sha); // touch: most recently used
      stats.hits++;
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    async put(sha, bytes) {
      if (!HEX64.test(sha)) throw new RangeError('piece cache keys are hex SHA-256');
      if (bytes.byteLength > options.capacityBytes || index.has(sha)) return;
      const tmp = join(tmpDir, `${process.pid}-${tmpCounter++}`);
      await mkdir(join(piecesDir, sha.slice(0, 2)), { recursive: true });
      await writeFile(tmp, bytes);
      await rename(tmp, pathOf(sha));
      stats.writes++;
      index.set(sha, true, bytes.byteLength);
    },
    stats: () => ({
      ...stats,
      bytes: index.totalSize,
      pieces: index.count,
      capacityBytes: options.capacityBytes,
    }),
  };
}
