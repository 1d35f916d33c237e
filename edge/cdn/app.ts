import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ObjectStore } from '../../release/index.ts';
import type { Clock, Logger } from '../../runtime/index.ts';
import { createTokenBucket } from '../token-bucket.ts';
import { type Billing, type BillingReport, createBilling } from './billing.ts';
import { acceptsGzip, COMPRESS_MAX_BYTES, compressible, createGzipCache, gzipEtag } from './compress.ts';
import {
  createObjectCache,
  type ObjectCacheOptions,
  type ObjectCacheStats,
  type ObjectInfo,
} from './object-cache.ts';
import { etagMatches, parseRange } from './range.ts';

/**
 * The lab CDN: serves every object-store key at `/<key>` over plain HTTP with Range (206/416),
 * ETag/If-None-Match (304), HEAD and gzip for whole small documents (compress.ts), from a chunk cache in front of the store, counting bytes per client
 * and per release. An optional total rate cap models a CDN edge saturated by a flash crowd. Agents need
 * only ranged GETs, so a real CDN in front of the bucket behaves the same for them.
 */
export interface CdnOptions extends ObjectCacheOptions {
  /** Total egress cap in bytes per second across all responses; unset = unlimited. */
  rateBytesPerSecond?: number;
  /** Path prefix of the admin routes (billing report, cache stats). Default `/_admin`. */
  adminPrefix?: string;
}

export interface Cdn {
  /** The fastify app; the caller listens (or the lab injects). */
  readonly app: FastifyInstance;
  billing(): BillingReport;
  cacheStats(): ObjectCacheStats;
}

/** Largest slice handed to the socket at once; smaller under a rate cap so the bucket stays smooth. */
const MAX_SLICE_UNCAPPED = 1024 * 1024;
const MAX_SLICE_CAPPED = 64 * 1024;

export function createCdn(
  options: CdnOptions,
  components: { store: ObjectStore; clock: Clock; logger: Logger },
): Cdn {
  const { store, clock, logger } = components;
  const cache = createObjectCache(options, { store, clock });
  const billing = createBilling({ now: () => clock.now() });
  const bucket =
    options.rateBytesPerSecond !== undefined
      ? createTokenBucket({ bytesPerSecond: options.rateBytesPerSecond }, { clock })
      : undefined;
  const admin = options.adminPrefix ?? '/_admin';
  const gzips = createGzipCache();

  // Request logging stays off: at flash-crowd rates it would cost more than serving; the billing report counts.
  const app = Fastify({ logger: false, exposeHeadRoutes: false });

  app.get(`${admin}/billing`, async () => billing.report());
  app.get(`${admin}/cache`, async () => cache.stats());

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const key = decodeKey((request.params as Record<string, string>)['*'] ?? '');
    const client = request.ip;
    if (key === null) return answer(reply, client, '(invalid)', 400, 'bad key');
    let info: ObjectInfo | null;
    try {
      info = await cache.info(key);
    } catch (error) {
      logger.warn({ err: error, key }, 'store head failed');
      return answer(reply, client, key, 502, 'origin unavailable');
    }
    if (!info) return answer(reply, client, key, 404, 'not found');

    const type = contentType(key);
    reply.header('accept-ranges', 'bytes');
    reply.header('content-type', type);
    const range = parseRange(request.headers.range, info.size);
    // A whole small document for a client that takes gzip goes compressed (see compress.ts).
    let gz: Buffer | undefined;
    if (compressible(type)) {
      reply.header('vary', 'accept-encoding');
      if (
        range.kind === 'none' &&
        request.method === 'GET' &&
        info.size > 0 &&
        info.size <= COMPRESS_MAX_BYTES &&
        acceptsGzip(request.headers['accept-encoding'])
      )
        gz = await gzips.get(key, info.etag, () => whole(key, info));
    }
    const etag = gz ? gzipEtag(info.etag) : info.etag;
    reply.header('etag', etag);
    if (etagMatches(request.headers['if-none-match'], etag)) {
      billing.request(client, key, 304);
      return reply.code(304).send();
    }
    if (gz) {
      billing.request(client, key, 200);
      if (bucket) await bucket.take(gz.length);
      billing.bytes(client, key, gz.length);
      return reply
        .code(200)
        .header('content-encoding', 'gzip')
        .header('content-length', String(gz.length))
        .send(gz);
    }
    if (range.kind === 'unsatisfiable') {
      reply.header('content-range', `bytes */${info.size}`);
      return answer(reply, client, key, 416, 'range not satisfiable');
    }
    const start = range.kind === 'range' ? range.start : 0;
    const end = range.kind === 'range' ? range.end : info.size - 1;
    const status = range.kind === 'range' ? 206 : 200;
    if (status === 206) reply.header('content-range', `bytes ${start}-${end}/${info.size}`);
    reply.header('content-length', String(end - start + 1));
    billing.request(client, key, status);
    reply.code(status);
    if (request.method === 'HEAD' || info.size === 0) return reply.send();
    return reply.send(Readable.from(body(key, info, start, end, client), { objectMode: false }));
  };

  /** The whole object, for compression (documents only: bounded by COMPRESS_MAX_BYTES). */
  async function whole(key: string, info: ObjectInfo): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (let index = 0; index * cache.chunkBytes < info.size; index++)
      parts.push(await cache.chunk(key, info, index));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async function* body(key: string, info: ObjectInfo, start: number, end: number, client: string) {
    const sliceMax = bucket ? MAX_SLICE_CAPPED : MAX_SLICE_UNCAPPED;
    let position = start;
    while (position <= end) {
      const index = Math.floor(position / cache.chunkBytes);
      const chunk = await cache.chunk(key, info, index);
      const chunkStart = index * cache.chunkBytes;
      const chunkEnd = Math.min(chunkStart + chunk.byteLength - 1, end);
      while (position <= chunkEnd) {
        const sliceEnd = Math.min(chunkEnd, position + sliceMax - 1);
        const length = sliceEnd - position + 1;
        if (bucket) await bucket.take(length);
        const offset = position - chunkStart;
        billing.bytes(client, key, length);
        position += length;
        yield Buffer.from(chunk.buffer, chunk.byteOffset + offset, length);
      }
    }
  }

  function answer(
    reply: FastifyReply,
    client: string,
    key: string,
    code: number,
    message: string,
  ): FastifyReply {
    billing.request(client, key, code);
    return reply.code(code).header('content-type', 'text/plain; charset=utf-8').send(`${message}\n`);
  }

  app.get('/*', handler);
  app.head('/*', handler);

  return { app, billing: () => billing.report(), cacheStats: () => cache.stats() };
}

/** Route param (already percent-decoded by fastify) -> store key; rejects traversal and empty segments. */
function decodeKey(key: string): string | null {
  if (key === '' || key.split('/').some((s) => s === '..' || s === '.' || s === '')) return null;
  return key;
}

function contentType(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.torrent')) return 'application/x-bittorrent';
  return 'application/octet-stream';
}

export type { Billing };
