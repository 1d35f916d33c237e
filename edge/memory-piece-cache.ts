import { createSizedLru } from './lru.ts';
import { type PieceCache, type PieceCacheStats, sha256Hex } from './piece-cache.ts';

/**
 * The piece cache without a disk, for lab fleets of many edges in one process. Same contract as the
 * disk cache — byte cap with LRU eviction, every read re-hashed — so the same tests hold for both.
 * `tamper` lets a test damage a stored piece the way a failing disk would.
 */
export interface MemoryPieceCache extends PieceCache {
  tamper(sha256: string, mutate: (bytes: Uint8Array) => void): boolean;
}

export function createMemoryPieceCache(options: { capacityBytes: number }): MemoryPieceCache {
  const stats = { hits: 0, misses: 0, corrupt: 0, evictions: 0, writes: 0 };
  const pieces = createSizedLru<Uint8Array>(options.capacityBytes, () => {
    stats.evictions++;
  });
  return {
    async open() {
      return { kept: pieces.count, dropped: 0 };
    },
    has: (sha) => pieces.has(sha),
    async get(sha) {
      const bytes = pieces.get(sha);
      if (!bytes) {
        stats.misses++;
        return null;
      }
      if (sha256Hex(bytes) !== sha) {
        stats.corrupt++;
        stats.misses++;
        pieces.delete(sha);
        return null;
      }
      stats.hits++;
      return bytes;
    },
    async put(sha, bytes) {
      if (pieces.has(sha) || bytes.byteLength > options.capacityBytes) return;
      // A private copy: callers may hand the same buffer to the network.
      pieces.set(sha, new Uint8Array(bytes), bytes.byteLength);
      stats.writes++;
    },
    tamper(sha, mutate) {
      const bytes = pieces.get(sha);
      if (!bytes) return false;
      mutate(bytes);
      return true;
    },
    stats: (): PieceCacheStats => ({
      ...stats,
      bytes: pieces.totalSize,
      pieces: pieces.count,
      capacityBytes: options.capacityBytes,
    }),
  };
}
