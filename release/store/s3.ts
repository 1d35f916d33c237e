import { Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { StoreError } from '../errors.ts';
import { checkKey } from './keys.ts';
import { uploadStream } from './s3-multipart.ts';
import type { ByteRange, ObjectStore, OpenStoreOptions, PutOptions } from './types.ts';

/**
 * The AWS SDK takes a noticeable share of a second to load, so it is imported on first use: a
 * file:// user (agents, tracker, tests) never pays for it.
 */
type S3Sdk = typeof import('@aws-sdk/client-s3');
let sdk: Promise<S3Sdk> | undefined;
function loadSdk(): Promise<S3Sdk> {
  sdk ??= import('@aws-sdk/client-s3');
  return sdk;
}

interface AwsLikeError {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  message?: string;
}

function mapS3Error(error: unknown, what: string, endpoint: string): never {
  if (error instanceof StoreError) throw error;
  const e = error as AwsLikeError;
  if (e.name === 'AbortError') throw error;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? e.code ?? '';
  if (name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket'))
    throw new StoreError('NOT_FOUND', `no object at ${what}`, { cause: error });
  if (name === 'NoSuchBucket')
    throw new StoreError('STORE_ERROR', `bucket does not exist (${what})`, { cause: error });
  if (status === 412 || name === 'PreconditionFailed')
    throw new StoreError('ALREADY_EXISTS', `${what} already exists`, { cause: error });
  if (
    status === 401 ||
    status === 403 ||
    ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'CredentialsProviderError'].includes(name)
  )
    throw new StoreError(
      'STORE_UNAUTHORIZED',
      `store refused the credentials for ${what} (${name || status})`,
      {
        cause: error,
      },
    );
  const sys = (e.code ?? (error as { cause?: { code?: string } }).cause?.code ?? '') as string;
  if (
    status === undefined &&
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|TimeoutError/.test(`${sys} ${name}`)
  )
    throw new StoreError('STORE_UNREACHABLE', `cannot reach store at ${endpoint} (${sys || name})`, {
      cause: error,
    });
  throw new StoreError('STORE_ERROR', `s3 ${what}: ${(e.message ?? String(error)).split('\n')[0]}`, {
    cause: error,
  });
}

/**
 * `s3://bucket/prefix` on AWS or any S3-compatible server. Path-style addressing and
 * checksums-only-when-required keep s3rver and MinIO working (streamed bodies otherwise get stored with
 * aws-chunked framing). Put-if-absent sends `If-None-Match: *` (AWS honours it); because some servers
 * (s3rver) ignore that header, it is preceded by a HEAD, so on those servers it is check-then-put and
 * only safe against a concurrent publisher of the same key within that small window.
 */
export function createS3Store(url: string, options: OpenStoreOptions = {}): ObjectStore {
  const parsed = new URL(url);
  const bucket = parsed.hostname;
  if (!bucket) throw new StoreError('INVALID_STORE_URL', `store URL ${url} names no bucket`);
  const prefix = decodeURIComponent(parsed.pathname).replace(/^\/+/, '').replace(/\/+$/, '');
  const env = options.env ?? process.env;
  const endpoint = options.s3Endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const config: S3ClientConfig = {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 2,
  };
  if (endpoint) config.endpoint = endpoint;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY)
    config.credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  let clientPromise: Promise<{ client: S3Client; sdk: S3Sdk }> | undefined;
  const connect = (): Promise<{ client: S3Client; sdk: S3Sdk }> => {
    clientPromise ??= loadSdk().then((loaded) => ({ client: new loaded.S3Client(config), sdk: loaded }));
    return clientPromise;
  };
  const where = endpoint ?? 'AWS S3';
  const fullKey = (key: string): string => (prefix ? `${prefix}/${checkKey(key)}` : checkKey(key));
  const rangeHeader = (r?: ByteRange): string | undefined => (r ? `bytes=${r.start}-${r.end}` : undefined);

  async function getStream(key: string, range?: ByteRange): Promise<Readable> {
    try {
      const { client, sdk } = await connect();
      const out = await client.send(
        new sdk.GetObjectCommand({ Bucket: bucket, Key: fullKey(key), Range: rangeHeader(range) }),
      );
      if (!(out.Body instanceof Readable)) throw new StoreError('STORE_ERROR', `s3 ${key}: no body`);
      return out.Body;
    } catch (error) {
      return mapS3Error(error, key, where);
    }
  }

  async function head(key: string): Promise<{ size: number; etag?: string } | null> {
    try {
      const { client, sdk } = await connect();
      const out = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
      return { size: out.ContentLength ?? 0, ...(out.ETag ? { etag: out.ETag } : {}) };
    } catch (error) {
      const e = error as AwsLikeError;
      // HEAD responses have no body, so a missing bucket looks like a missing key here; the next
      // write then reports NoSuchBucket.
      if (e.$metadata?.httpStatusCode === 404) return null;
      return mapS3Error(error, key, where);
    }
  }

  return {
    url,
    async get(key, range) {
      const stream = await getStream(key, range);
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of stream) chunks.push(chunk as Buffer);
      } catch (error) {
        return mapS3Error(error, key, where);
      }
      const all = Buffer.concat(chunks);
      return new Uint8Array(all.buffer, all.byteOffset, all.length);
    },
    getStream,
    head,
    async put(key, body, options: PutOptions = {}) {
      const Key = fullKey(key);
      try {
        if (options.ifAbsent && (await head(key)) !== null)
          throw new StoreError('ALREADY_EXISTS', `${key} already exists`);
        const { client, sdk } = await connect();
        const params = {
          Bucket: bucket,
          Key,
          ContentType: options.contentType ?? 'application/octet-stream',
          ...(options.ifAbsent ? { IfNoneMatch: '*' } : {}),
        };
        if (body instanceof Uint8Array) {
          await client.send(new sdk.PutObjectCommand({ ...params, Body: body, ContentLength: body.length }), {
            abortSignal: options.signal,
          });
          return;
        }
        await uploadStream(client, sdk, params, body, {
          ...(options.size !== undefined ? { size: options.size } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (error) {
        return mapS3Error(error, key, where);
      }
    },
    async list(listPrefix) {
      const keys: string[] = [];
      const base = prefix ? `${prefix}/` : '';
      let token: string | undefined;
      try {
        const { client, sdk } = await connect();
        do {
          const out = await client.send(
            new sdk.ListObjectsV2Command({
              Bucket: bucket,
              Prefix: base + listPrefix,
              ContinuationToken: token,
            }),
          );
          for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key.slice(base.length));
          token = out.IsTruncated ? out.NextContinuationToken : undefined;
        } while (token);
      } catch (error) {
        return mapS3Error(error, listPrefix, where);
      }
      return keys.sort();
    },
  };
}
