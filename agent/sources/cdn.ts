import type { HttpClient } from '../../runtime/index.ts';
import { type PieceLayout, pieceBounds } from '../engine/layout.ts';
import type { PieceSource } from '../types.ts';

export interface CdnSourceOptions {
  /** CDN base URL; the object is at `<baseUrl>/<objectKey>`. */
  baseUrl: string;
  objectKey: string;
  layout: PieceLayout;
  /** Parallel range requests (default 2: enough to hide one RTT, few enough to stay polite). */
  maxInFlight?: number;
}

/**
 * The CDN as a piece source: one HTTP Range request per piece through the runtime HttpClient, so it
 * works against edge/'s CDN, any real CDN in front of the bucket, or any HTTP server that honours Range.
 * A server that ignores Range (200 with the whole object) still works, just wastefully.
 */
export function createCdnSource(options: CdnSourceOptions, components: { http: HttpClient }): PieceSource {
  const url = `${options.baseUrl.replace(/\/+$/, '')}/${options.objectKey}`;
  const { layout } = options;
  return {
    id: `cdn:${url}`,
    kind: 'cdn',
    sourceClass: 'cdn',
    maxInFlight: () => options.maxInFlight ?? 2,
    has: () => true,
    ready: () => true,
    async fetchPiece(index, signal) {
      const { offset, length } = pieceBounds(layout, index);
      const response = await components.http.request({
        method: 'GET',
        url,
        headers: { range: `bytes=${offset}-${offset + length - 1}` },
        signal,
      });
      if (response.status === 206) return response.body;
      if (response.status === 200 && response.body.length === layout.size)
        return response.body.slice(offset, offset + length);
      throw new Error(`CDN ${url} answered ${response.status} for piece ${index}`);
    },
    close() {},
  };
}
