import type { Readable } from 'node:stream';
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { StoreError } from '../errors.ts';
import { fillingReader } from './pull-body.ts';

/** S3 allows at most 10,000 parts per upload, each at least 5 MiB except the last. */
export const MAX_PARTS = 10_000;
/** S3's minimum, used up to 48.8 GiB objects (10,000 parts); above that parts grow with the object. */
export const DEFAULT_PART_SIZE = 5 * 1024 * 1024;

type Sdk = typeof import('@aws-sdk/client-s3');

export interface StreamUploadParams {
  Bucket: string;
  Key: string;
  ContentType: string;
  IfNoneMatch?: string;
}

export interface StreamUploadOptions {
  /** Expected object size, used to pick a part size that stays within S3's 10,000-part limit. */
  size?: number;
  signal?: AbortSignal;
  /** Part buffers: one filling while the others are on the wire. At least 2. */
  buffers?: number;
}

/** The default part size, or the smallest whole-MiB size that fits `size` into 10,000 parts. */
export function choosePartSize(size: number | undefined): number {
  const mib = 1024 * 1024;
  return Math.max(DEFAULT_PART_SIZE, Math.ceil((size ?? 0) / MAX_PARTS / mib) * mib);
}

/**
 * Streams `body` to S3 through a fixed set of part buffers, so memory is `buffers x partSize` however
 * large the object: a PullBody is read straight into the part being filled (other streams are copied
 * into it), and a full part goes out with UploadPart while the next one fills. (lib-storage's Upload
 * concatenates chunks into fresh part buffers and keeps its own queue, which cost the publisher tens
 * of MiB more on multi-GiB files.) An object that fits in one part is sent with a single PutObject.
 * On any failure or abort the multipart upload is aborted, so the key never holds a partial object
 * and the store drops the parts (s3rver answers the abort with 405 and keeps them in its upload dir).
 */
export async function uploadStream(
  client: S3Client,
  sdk: Sdk,
  params: StreamUploadParams,
  body: Readable,
  options: StreamUploadOptions = {},
): Promise<void> {
  const { signal } = options;
  const partSize = choosePartSize(options.size);
  const maxBuffers = Math.max(2, options.buffers ?? 2);
  let allocated = 0;
  const free: Buffer[] = [];
  const { IfNoneMatch, ...objectParams } = params;
  const send = { abortSignal: signal };

  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;

  /** Starts UploadPart for `bytes` (a view of `buffer`); the buffer returns to `free` when it is sent. */
  const startPart = (buffer: Buffer, bytes: Buffer): void => {
    const PartNumber = parts.length + 1;
    if (PartNumber > MAX_PARTS)
      throw new StoreError('STORE_ERROR', `${params.Key}: more than ${MAX_PARTS} parts of ${partSize} bytes`);
    const part: CompletedPart = { PartNumber };
    parts.push(part);
    const sending = client
      .send(
        new sdk.UploadPartCommand({
          Bucket: params.Bucket,
          Key: params.Key,
          UploadId: uploadId,
          PartNumber,
          Body: bytes,
          ContentLength: bytes.length,
        }),
        send,
      )
      .then(
        (out) => {
          part.ETag = out.ETag;
          free.push(buffer);
        },
        (error: unknown) => {
          failure ??= error;
        },
      )
      .finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  };

  /** A free part buffer, allocated on first need (a small object needs one), else after a part is sent. */
  const nextBuffer = async (): Promise<Buffer> => {
    if (free.length === 0 && allocated < maxBuffers) {
      allocated++;
      return Buffer.allocUnsafeSlow(partSize);
    }
    while (free.length === 0 && failure === undefined) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    return free.pop()!;
  };

  try {
    const fill = fillingReader(body, signal);
    let buffer = await nextBuffer();
    let filled = await fill(buffer);
    if (filled < partSize) {
      // Everything fit in one part: a single PutObject, as for an in-memory body.
      signal?.throwIfAborted();
      await client.send(
        new sdk.PutObjectCommand({ ...params, Body: buffer.subarray(0, filled), ContentLength: filled }),
        send,
      );
      return;
    }
    uploadId = await createUpload(client, sdk, objectParams, send);
    while (filled > 0) {
      startPart(buffer, filled === partSize ? buffer : buffer.subarray(0, filled));
      if (filled < partSize) break;
      buffer = await nextBuffer();
      filled = await fill(buffer);
    }
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    signal?.throwIfAborted();
    await client.send(
      new sdk.CompleteMultipartUploadCommand({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        ...(IfNoneMatch ? { IfNoneMatch } : {}),
      }),
      send,
    );
  } catch (error) {
    body.destroy();
    // Let the parts on the wire settle first, so the abort is not followed by a late part.
    await Promise.allSettled([...inFlight]);
    if (uploadId !== undefined)
      await client
        .send(
          new sdk.AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId }),
        )
        .catch(() => {});
    throw error;
  }
}

async function createUpload(
  client: S3Client,
  sdk: Sdk,
  params: Omit<StreamUploadParams, 'IfNoneMatch'>,
  send: { abortSignal?: AbortSignal },
): Promise<string> {
  const out = await client.send(new sdk.CreateMultipartUploadCommand(params), send);
  if (!out.UploadId) throw new StoreError('STORE_ERROR', `${params.Key}: the store returned no upload id`);
  return out.UploadId;
}
