import { gzipSync } from 'node:zlib';

/**
 * gzip for the CDN's small text documents (channel pointers, manifests), as real CDNs do for JSON when
 * the client accepts it. In a flash crowd every device fetches the pointer and the manifest once, and a
 * manifest is mostly hex piece hashes that gzip halves: for a small release in a big fleet those
 * documents are a large share of the whole CDN egress. Piece data (ranged reads of the blob) is never
 * compressed: firmware does not shrink, and a compressed body cannot honour byte ranges.
 */

/** Documents above this stay uncompressed (a manifest of 1 MiB covers a release of ~16,000 pieces). */
export const COMPRESS_MAX_BYTES = 1024 * 1024;

/** Whether an Accept-Encoding header lets us send gzip (`gzip` or `*` with a non-zero q). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  const value = Array.isArray(header) ? header.join(',') : header;
  let star: boolean | undefined;
  for (const part of value.split(',')) {
    const [token = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const allowed = q === undefined || Number(q.slice(2)) > 0;
    if (token.trim() === 'gzip') return allowed;
    if (token.trim() === '*') star = allowed;
  }
  return star === true;
}

/** Content types worth compressing: the documents, not the blob or the (hash-filled) torrent. */
export function compressible(contentType: string): boolean {
  return contentType === 'application/json' || contentType.startsWith('text/');
}

/** The ETag of the gzip representation: a strong ETag must differ between encodings (RFC 9110 8.8.3). */
export function gzipEtag(etag: string): string {
  const weak = etag.startsWith('W/') ? 'W/' : '';
  const bare = etag.slice(weak.length);
  return bare.endsWith('"') ? `${weak}${bare.slice(0, -1)}-gzip"` : `${weak}${bare}-gzip`;
}

/**
 * Compressed bodies by key and ETag, so a crowd fetching one manifest costs one compression. Bounded by
 * entry count (documents are small); the oldest entry goes first. `undefined` from `get` means gzip
 * would not make the body smaller: send it as it is.
 */
export function createGzipCache(maxEntries = 256) {
  const entries = new Map<string, Buffer | null>();
  return {
    /** `load` reads the identity body; it runs only when this key and ETag are not cached yet. */
    async get(key: string, etag: string, load: () => Promise<Uint8Array>): Promise<Buffer | undefined> {
      const id = `${etag} ${key}`;
      let gz = entries.get(id);
      if (gz === undefined) {
        const body = await load();
        const packed = gzipSync(body, { level: 9 });
        gz = packed.length < body.length ? packed : null;
        entries.set(id, gz);
        if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
      }
      return gz ?? undefined;
    },
  };
}
