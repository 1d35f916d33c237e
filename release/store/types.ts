import type { Readable } from 'node:stream';

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface PutOptions {
  /** Fail with ALREADY_EXISTS instead of overwriting (see each store for how far this is atomic). */
  ifAbsent?: boolean;
  contentType?: string;
  /** Expected size of a streamed body, when known (lets S3 pick a part size within its part limit). */
  size?: number;
  /** Aborts an upload in progress; the key is then left as it was. */
  signal?: AbortSignal;
}

/**
 * Where releases live. Keys are relative to the store URL (DESIGN.md "Release format" layout).
 * Missing keys throw StoreError NOT_FOUND; connection problems STORE_UNREACHABLE; refused
 * credentials STORE_UNAUTHORIZED.
 */
export interface ObjectStore {
  readonly url: string;
  get(key: string, range?: ByteRange): Promise<Uint8Array>;
  getStream(key: string, range?: ByteRange): Promise<Readable>;
  head(key: string): Promise<{ size: number; etag?: string } | null>;
  /** A put is all-or-nothing: readers never see a partly written object under `key`. */
  put(key: string, body: Uint8Array | Readable, options?: PutOptions): Promise<void>;
  /** Keys under `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
}

export interface OpenStoreOptions {
  /** S3 endpoint (e.g. http://127.0.0.1:4568); falls back to AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL. */
  s3Endpoint?: string;
  /** Environment variables (credentials, region, endpoint). Defaults to process.env. */
  env?: Record<string, string | undefined>;
}
