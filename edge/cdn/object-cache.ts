import { createHash } from 'node:crypto';
import type { ObjectStore } from '../../release/index.ts';
import type { Clock } from '../../runtime/index.ts';
import { createCoalescer } from '../coalesce.ts';
import { createSizedLru } from '../lru.ts';

/**
 * The CDN's cache in front of the object store: object metadata (size, ETag) revalidated after a short
 * TTL, and object bytes in fixed-size chunks held in a byte-bounded LRU. Concurrent misses for one chunk
 * share one store read. Chunks are keyed by ETag, so a replaced object (a channel pointer flip) is never
 * served from stale chunks once its metadata is revalidated.
 */
export interface ObjectInfo {
  size: number;
  /** Quoted entity tag, e.g. `"5d41402abc4b2a76"`. */
  etag: string;
}

export interface ObjectCacheStats {
  chunkHits: number;
  chunkMisses: number;
  storeReads: number;
  storeBytes: number;
  cachedBytes: number;
  cachedChunks: number;
}

export interface ObjectCache {
  info(key: string): Promise<ObjectInfo | null>;
  chunk(key: string, info: ObjectInfo, index: number): Promise<Uint8Array>;
  readonly chunkBytes: number;
  stats(): ObjectCacheStats;
}

export interface ObjectCacheOptions {
  /** Bytes per cached chunk; also the store read size. Default 1 MiB. */
  chunkBytes?: number;
  /** Memory cap for cached chunks. Default 256 MiB. */
  cacheBytes?: number;
  /** How long object metadata is trusted before a new HEAD. Default 1000 ms. */
  metadataTtlMs?: number;
}

export function createObjectCache(
  options: ObjectCacheOptions,
  components: { store: ObjectStore; clock: Clock },
): ObjectCache {
  const { store, clock } = components;
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  const ttl = options.metadataTtlMs ?? 1000;
  const chunks = createSizedLru<Uint8Array>(options.cacheBytes ?? 256 * 1024 * 1024);
  // Bounded by entry count: one entry per key ever requested, so a crawler cannot grow it without limit.
  const metadata = createSizedLru<{ info: ObjectInfo | null; at: number }>(100_000);
  const headCoalescer = createCoalescer<ObjectInfo | null>();
  const chunkCoalescer = createCoalescer<Uint8Array>();
  const stats = { chunkHits: 0, chunkMisses: 0, storeReads: 0, storeBytes: 0 };

  const chunkKey = (key: string, info: ObjectInfo, index: number): string => `${info.etag}\0${key}\0${index}`;

  const readChunk = async (key: string, info: ObjectInfo, index: number): Promise<Uint8Array> => {
    const start = index * chunkBytes;
    const end = Math.min(info.size, start + chunkBytes) - 1;
    stats.storeReads++;
    const bytes = await store.get(key, { start, end });
    stats.storeBytes += bytes.byteLength;
    return bytes;
  };

  const head = async (key: string): Promise<ObjectInfo | null> => {
    const found = await store.head(key);
    if (!found) return null;
    if (found.etag) {
      const etag = /^(W\/)?"/.test(found.etag) ? found.etag : `"${found.etag}"`;
      return { size: found.size, etag };
    }
    // The store has no ETag (file://): derive one from size and the first chunk. For objects within one
    // chunk (channel pointers, manifests) that covers every byte; release blobs are immutable by design.
    const provisional: ObjectInfo = { size: found.size, etag: `"pending-${found.size}"` };
    const first = found.size > 0 ? await readChunk(key, provisional, 0) : new Uint8Array(0);
    const digest = createHash('sha256').update(first).digest('hex').slice(0, 20);
    const info = { size: found.size, etag: `"${found.size.toString(16)}-${digest}"` };
    if (found.size > 0) chunks.set(chunkKey(key, info, 0), first, first.byteLength);
    return info;
  };

  return {
    chunkBytes,
    async info(key) {
      const cached = metadata.get(key);
      if (cached && clock.now() - cached.at < ttl) return cached.info;
      const info = await headCoalescer.run(key, () => head(key));
      metadata.set(key, { info, at: clock.now() }, 1);
      return info;
    },
    async chunk(key, info, index) {
      const id = chunkKey(key, info, index);
      const hit = chunks.get(id);
      if (hit) {
        stats.chunkHits++;
        return hit;
      }
      stats.chunkMisses++;
      return chunkCoalescer.run(id, async () => {
        const bytes = await readChunk(key, info, index);
        chunks.set(id, bytes, bytes.byteLength);
        return bytes;
      });
    },
    stats: () => ({ ...stats, cachedBytes: chunks.totalSize, cachedChunks: chunks.count }),
  };
}
