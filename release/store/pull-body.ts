import { Readable } from 'node:stream';

/** Fills `into` from its start with the next bytes of the body; resolves 0 at the end. */
export type ReadInto = (into: Uint8Array) => Promise<number>;

/** Chunk size when a PullBody is consumed as an ordinary stream. */
const STREAM_CHUNK = 1024 * 1024;

/**
 * A streamed body that a store can also pull into buffers of its own. Read as a Readable it allocates
 * a fresh chunk per read like any stream; the file and S3 stores instead call `readInto` with buffers
 * they reuse, so a multi-GiB upload allocates nothing per chunk and its memory stays flat (garbage
 * chunks otherwise pile up between collections, and the allocator keeps their pages). Use one mode
 * or the other, never both.
 */
export class PullBody extends Readable {
  readonly readInto: ReadInto;

  constructor(readInto: ReadInto) {
    super({ highWaterMark: STREAM_CHUNK });
    this.readInto = readInto;
  }

  override _read(): void {
    const chunk = Buffer.allocUnsafe(STREAM_CHUNK);
    this.readInto(chunk).then(
      (n) => this.push(n === 0 ? null : chunk.subarray(0, n)),
      (error: Error) => this.destroy(error),
    );
  }
}

/** At most this much is pulled per call, so hashing in `readInto` never blocks the loop for long. */
const PULL_SLICE = 1024 * 1024;

/**
 * A reader that fills `into` completely unless the body ends first (it resolves with fewer bytes only
 * at the end, then 0). PullBodies are read straight into `into`; other streams are copied from their
 * chunks.
 */
export function fillingReader(body: Readable, signal?: AbortSignal): ReadInto {
  if (body instanceof PullBody)
    return async (into) => {
      let filled = 0;
      while (filled < into.length) {
        signal?.throwIfAborted();
        const n = await body.readInto(into.subarray(filled, Math.min(into.length, filled + PULL_SLICE)));
        if (n === 0) break;
        filled += n;
      }
      return filled;
    };
  const chunks = body[Symbol.asyncIterator]();
  let pending: Uint8Array = new Uint8Array(0);
  let ended = false;
  return async (into) => {
    let filled = 0;
    while (filled < into.length) {
      signal?.throwIfAborted();
      if (pending.length === 0) {
        if (ended) break;
        const next = await chunks.next();
        if (next.done) {
          ended = true;
          break;
        }
        pending = typeof next.value === 'string' ? Buffer.from(next.value) : (next.value as Uint8Array);
        continue;
      }
      const take = Math.min(into.length - filled, pending.length);
      into.set(take === pending.length ? pending : pending.subarray(0, take), filled);
      pending = pending.subarray(take);
      filled += take;
    }
    return filled;
  };
}
