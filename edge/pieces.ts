import { type ManifestSigned, pieceRange } from '../release/index.ts';
import { createCoalescer } from './coalesce.ts';
import { EdgeError } from './errors.ts';
import { createSizedLru } from './lru.ts';
import type { ManifestRegistry } from './manifests.ts';
import type { Origin } from './origin.ts';
import { type PieceCache, sha256Hex } from './piece-cache.ts';

/**
 * Verified pieces for the edge server: cache first, then one coalesced origin pull per piece, verified
 * against the manifest's SHA-256 before it is cached or served. A corrupt origin answer is retried once
 * and then reported (ORIGIN_CORRUPT), never served.
 */
export interface PieceProviderStats {
  requests: number;
  cacheHits: number;
  originReads: number;
  originBytes: number;
  originCorrupt: number;
}

export interface PieceProvider {
  /** Throws EdgeError UNKNOWN_RELEASE, PIECE_OUT_OF_RANGE, ORIGIN_UNAVAILABLE or ORIGIN_CORRUPT. */
  getPiece(releaseId: string, index: number): Promise<{ manifest: ManifestSigned; bytes: Uint8Array }>;
  manifest(releaseId: string): Promise<ManifestSigned>;
  stats(): PieceProviderStats;
}

export interface PieceProviderOptions {
  /**
   * Memory for hot pieces already verified (they skip the disk read and re-hash). Default 64 MiB;
   * 0 sends every request to the disk cache.
   */
  memoryBytes?: number;
}

export function createPieceProvider(
  options: PieceProviderOptions,
  components: { manifests: ManifestRegistry; cache: PieceCache; origin: Origin },
): PieceProvider {
  const { manifests, cache, origin } = components;
  const hot = createSizedLru<Uint8Array>(options.memoryBytes ?? 64 * 1024 * 1024);
  const coalescer = createCoalescer<Uint8Array>();
  const stats: PieceProviderStats = {
    requests: 0,
    cacheHits: 0,
    originReads: 0,
    originBytes: 0,
    originCorrupt: 0,
  };

  const manifestOf = async (releaseId: string): Promise<ManifestSigned> => {
    const manifest = await manifests.get(releaseId);
    if (!manifest) throw new EdgeError('UNKNOWN_RELEASE', `unknown release ${releaseId}`);
    return manifest;
  };

  const pull = async (manifest: ManifestSigned, index: number, sha: string): Promise<Uint8Array> => {
    const cached = await cache.get(sha);
    if (cached) {
      stats.cacheHits++;
      hot.set(sha, cached, cached.byteLength);
      return cached;
    }
    const { offset, length } = pieceRange(manifest, index);
    for (let attempt = 0; attempt < 2; attempt++) {
      stats.originReads++;
      const bytes = await origin.readRange(manifest.object, offset, offset + length - 1);
      stats.originBytes += bytes.byteLength;
      if (bytes.byteLength === length && sha256Hex(bytes) === sha) {
        await cache.put(sha, bytes);
        hot.set(sha, bytes, bytes.byteLength);
        return bytes;
      }
      stats.originCorrupt++;
    }
    throw new EdgeError(
      'ORIGIN_CORRUPT',
      `origin returned a bad piece ${index} of ${manifest.product}@${manifest.version}`,
    );
  };

  return {
    manifest: manifestOf,
    async getPiece(releaseId, index) {
      stats.requests++;
      const manifest = await manifestOf(releaseId);
      const sha = Number.isInteger(index) && index >= 0 ? manifest.pieces[index] : undefined;
      if (sha === undefined)
        throw new EdgeError(
          'PIECE_OUT_OF_RANGE',
          `piece ${index} out of range 0..${manifest.pieces.length - 1} of ${releaseId}`,
        );
      const warm = hot.get(sha);
      if (warm) {
        stats.cacheHits++;
        return { manifest, bytes: warm };
      }
      // Keyed by content hash: concurrent misses for one piece (from any release) share one origin read.
      const bytes = await coalescer.run(sha, () => pull(manifest, index, sha));
      return { manifest, bytes };
    },
    stats: () => ({ ...stats }),
  };
}
