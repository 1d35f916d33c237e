import { createHash } from 'node:crypto';
import type { PieceLayout } from '../../agent/engine/layout.ts';
import type { PieceSource, SourceClass, SourceKind } from '../../agent/types.ts';
import { type Clock, createSeededRandom, type TimerHandle } from '../../runtime/index.ts';

/** A clock that only moves when the test says so; timers fire in order, promises settle between them. */
export class ManualClock implements Clock {
  private t = 1_000_000;
  private nextId = 1;
  private timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.t;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, delayMs), callback });
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle.id);
  }

  /** Advances virtual time until `done()` holds or `maxMs` passes; returns the elapsed virtual ms. */
  async runUntil(done: () => boolean, maxMs = 3_600_000): Promise<number> {
    const start = this.t;
    await flush();
    while (!done()) {
      let next: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.timers) if (!next || entry[1].at < next[1].at) next = entry;
      if (!next || next[1].at - start > maxMs) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].callback();
      await flush();
    }
    return this.t - start;
  }
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

export function makeRelease(
  size: number,
  pieceLength: number,
  seed = 1,
): { data: Uint8Array; layout: PieceLayout } {
  const data = createSeededRandom(seed).bytes(size);
  const pieces: string[] = [];
  for (let offset = 0; offset < size; offset += pieceLength)
    pieces.push(
      createHash('sha256')
        .update(data.subarray(offset, Math.min(size, offset + pieceLength)))
        .digest('hex'),
    );
  return { data, layout: { size, pieceLength, pieces } };
}

export interface FakeSourceOptions {
  id: string;
  kind: SourceKind;
  sourceClass?: SourceClass;
  data: Uint8Array;
  layout: PieceLayout;
  clock: ManualClock;
  /** Bytes per second the source delivers (per request). */
  rateBps: number;
  maxInFlight?: number;
  /** Pieces it has (default: all). */
  pieces?: Set<number>;
  /** Returns corrupt bytes for these pieces (or all, when true). */
  corrupt?: boolean | Set<number>;
  /** Never answers these pieces. */
  stall?: Set<number>;
  /** Chokes us for good: it has pieces but never lets us request one. */
  choked?: boolean;
  /** Reports progress (like an edge's blocks) every this many ms while a request is outstanding. */
  trickleMs?: number;
  /** With `trickleMs`: each request goes silent this long after it started, and never completes. */
  silentAfterMs?: number;
}

/** An in-memory piece source with a fixed rate, for engine unit tests. */
export function fakeSource(
  o: FakeSourceOptions,
): PieceSource & { requests: number[]; requestTimes: number[]; closed?: string; give(i: number): void } {
  const listeners = new Set<() => void>();
  const requests: number[] = [];
  /** When each of `requests` was made (clock ms). */
  const requestTimes: number[] = [];
  let lastAt: number | undefined;
  const trickle = (startedAt: number, signal: AbortSignal): void => {
    const step = o.trickleMs;
    if (step === undefined) return;
    const beat = (): void => {
      if (signal.aborted) return;
      if (o.silentAfterMs !== undefined && o.clock.now() - startedAt >= o.silentAfterMs) return;
      lastAt = o.clock.now();
      o.clock.setTimer(step, beat);
    };
    o.clock.setTimer(step, beat);
  };
  const src = {
    id: o.id,
    kind: o.kind,
    sourceClass: o.sourceClass ?? (o.kind === 'peer' ? 'peer-same-isp' : o.kind),
    requests,
    requestTimes,
    closed: undefined as string | undefined,
    maxInFlight: () => o.maxInFlight ?? 2,
    has: (i: number) => (o.pieces ? o.pieces.has(i) : true),
    ready: () => !o.choked,
    give(i: number) {
      o.pieces?.add(i);
      for (const l of listeners) l();
    },
    fetchPiece(index: number, signal: AbortSignal): Promise<Uint8Array> {
      requests.push(index);
      requestTimes.push(o.clock.now());
      const start = index * o.layout.pieceLength;
      const bytes = o.data.slice(start, Math.min(o.layout.size, start + o.layout.pieceLength));
      const bad = o.corrupt === true || (o.corrupt instanceof Set && o.corrupt.has(index));
      if (bad) bytes[0] = (bytes[0]! + 1) & 0xff;
      trickle(o.clock.now(), signal);
      return new Promise((resolve, reject) => {
        if (o.stall?.has(index) || o.silentAfterMs !== undefined) {
          signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
          return;
        }
        const handle = o.clock.setTimer((bytes.length / o.rateBps) * 1000, () => resolve(bytes));
        signal.addEventListener(
          'abort',
          () => {
            o.clock.clearTimer(handle);
            reject(new Error('aborted'));
          },
          { once: true },
        );
      });
    },
    close(reason: string) {
      src.closed = reason;
    },
    progress: () =>
      o.trickleMs !== undefined && lastAt !== undefined ? { lastAt, intervalMs: o.trickleMs } : undefined,
    onChange(handler: () => void) {
      listeners.add(handler);
      return () => listeners.delete(handler);
    },
  };
  return src;
}
