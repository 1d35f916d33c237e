import { RangeSet } from './range-set.ts';
import { Slab } from './slab.ts';

/**
 * Received stream data is copied out of the shared receive scratch into slabs: a copy per packet,
 * but one ArrayBuffer per 128 KiB instead of one per packet. Each ArrayBuffer is a malloc, a free
 * and a tracked extension for the garbage collector, and a large lab run receives millions.
 */
const recvSlab = new Slab();

/**
 * Sans-IO stream state: the send side keeps written bytes until acknowledged (retransmission source)
 * and the receive side reassembles out-of-order frames into an ordered byte sequence, enforcing the
 * flow-control limit it advertised.
 */
export interface StreamChunk {
  offset: number;
  data: Uint8Array;
  fin: boolean;
}

export class SendStream {
  /**
   * Written, not yet acknowledged-and-released data, in offset order, from `chunksHead` on (released
   * chunks are dropped from the front in batches: shift() per ACK is linear in what is buffered).
   */
  private chunks: Array<{ offset: number; data: Uint8Array }> = [];
  private chunksHead = 0;
  /** End of written data. */
  writeOffset = 0;
  /** Next never-sent byte. */
  sendOffset = 0;
  /** Peer's flow-control limit for this stream. */
  maxData: number;
  finRequested = false;
  finSent = false;
  finAcked = false;
  resetCode: number | undefined;
  private readonly acked = new RangeSet(4096);
  /** Lost ranges waiting for retransmission, [start, end) each, from `retransmitHead` on; fin flags a lost FIN. */
  private retransmit: Array<{ start: number; end: number; fin: boolean }> = [];
  private retransmitHead = 0;

  constructor(
    readonly id: number,
    initialMaxData: number,
  ) {
    this.maxData = initialMaxData;
  }

  write(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push({ offset: this.writeOffset, data });
    this.writeOffset += data.length;
  }

  finish(): void {
    this.finRequested = true;
  }

  /** Bytes written but not yet acknowledged (what backpressure is measured on). */
  get unacked(): number {
    return this.writeOffset - this.ackedPrefix();
  }

  private ackedPrefix(): number {
    return this.acked.firstGapFrom(0);
  }

  get hasRetransmit(): boolean {
    return this.retransmitHead < this.retransmit.length;
  }

  /** New data (or a bare FIN) that flow control lets us send now. */
  newDataAvailable(connectionCredit: number): number {
    const limit = Math.min(this.writeOffset, this.maxData, this.sendOffset + connectionCredit);
    return Math.max(0, limit - this.sendOffset);
  }

  get wantsFinOnly(): boolean {
    return this.finRequested && !this.finSent && this.sendOffset === this.writeOffset;
  }

  get isDone(): boolean {
    return this.resetCode !== undefined || (this.finAcked && this.unacked === 0);
  }

  /** Takes up to `max` bytes of retransmission. */
  takeRetransmit(max: number): StreamChunk | undefined {
    while (this.retransmitHead < this.retransmit.length) {
      const head = this.retransmit[this.retransmitHead]!;
      // Skip parts acknowledged since they were declared lost (spurious loss).
      if (head.start < head.end) head.start = Math.min(head.end, this.acked.firstGapFrom(head.start));
      if (head.start >= head.end && !head.fin) {
        this.dropRetransmitHead();
        continue;
      }
      if (head.start >= head.end && head.fin) {
        this.dropRetransmitHead();
        if (this.finAcked) continue;
        return { offset: this.writeOffset, data: new Uint8Array(0), fin: true };
      }
      const length = Math.min(max, head.end - head.start);
      if (length <= 0) return undefined;
      const chunk = { offset: head.start, data: this.read(head.start, length), fin: false };
      head.start += length;
      if (head.start >= head.end) {
        this.dropRetransmitHead();
        if (head.fin && head.end === this.writeOffset) chunk.fin = true;
      }
      return chunk;
    }
    return undefined;
  }

  private dropRetransmitHead(): void {
    this.retransmitHead++;
    if (this.retransmitHead === this.retransmit.length) {
      this.retransmit.length = 0;
      this.retransmitHead = 0;
    } else if (this.retransmitHead >= 64 && this.retransmitHead * 2 >= this.retransmit.length) {
      this.retransmit = this.retransmit.slice(this.retransmitHead);
      this.retransmitHead = 0;
    }
  }

  /** Takes up to `max` new bytes (the caller has checked flow control). */
  takeNew(max: number): StreamChunk {
    const length = Math.min(max, this.writeOffset - this.sendOffset);
    const chunk = { offset: this.sendOffset, data: this.read(this.sendOffset, length), fin: false };
    this.sendOffset += length;
    if (this.finRequested && this.sendOffset === this.writeOffset) {
      chunk.fin = true;
      this.finSent = true;
    }
    return chunk;
  }

  onAcked(offset: number, length: number, fin: boolean): void {
    if (length > 0) this.acked.add(offset, offset + length - 1);
    if (fin) this.finAcked = true;
    const prefix = this.ackedPrefix();
    const chunks = this.chunks;
    let head = this.chunksHead;
    while (head < chunks.length) {
      const chunk = chunks[head]!;
      if (chunk.offset + chunk.data.length > prefix) break;
      head++;
    }
    if (head === chunks.length) {
      chunks.length = 0;
      head = 0;
    } else if (head >= 64 && head * 2 >= chunks.length) {
      this.chunks = chunks.slice(head);
      head = 0;
    }
    this.chunksHead = head;
  }

  onLost(offset: number, length: number, fin: boolean): void {
    if (this.resetCode !== undefined) return;
    this.retransmit.push({ start: offset, end: offset + length, fin });
  }

  private read(offset: number, length: number): Uint8Array {
    const chunks = this.chunks;
    // Binary search for the first chunk that ends after `offset` (chunks are contiguous and sorted).
    let lo = this.chunksHead;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = chunks[mid]!;
      if (chunk.offset + chunk.data.length <= offset) lo = mid + 1;
      else hi = mid;
    }
    let out: Uint8Array | undefined;
    let filled = 0;
    for (let i = lo; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      const chunkEnd = chunk.offset + chunk.data.length;
      if (chunkEnd <= offset + filled) continue;
      if (chunk.offset >= offset + length) break;
      const from = offset + filled - chunk.offset;
      const take = Math.min(chunk.data.length - from, length - filled);
      // A single-chunk read is the common case: return a view, no copy.
      if (filled === 0 && take === length) return chunk.data.subarray(from, from + take);
      out ??= new Uint8Array(length);
      out.set(chunk.data.subarray(from, from + take), filled);
      filled += take;
      if (filled === length) break;
    }
    return out ?? new Uint8Array(length);
  }
}

export class FlowControlError extends Error {}

export class RecvStream {
  /** Bytes handed to the application. */
  deliveredOffset = 0;
  /** Bytes the application has consumed (credit for the window). */
  consumedOffset = 0;
  /** Limit we advertised. */
  maxData: number;
  finalSize: number | undefined;
  finDelivered = false;
  /** Highest offset seen in any frame (connection-level flow control counts this). */
  highestReceived = 0;
  private readonly pending = new Map<number, Uint8Array>();
  private pendingBytes = 0;

  constructor(
    readonly id: number,
    readonly window: number,
  ) {
    this.maxData = window;
  }

  /** Accepts a frame; returns the in-order data now deliverable (possibly several pieces). */
  onFrame(offset: number, data: Uint8Array, fin: boolean): Uint8Array[] {
    const end = offset + data.length;
    if (end > this.maxData) throw new FlowControlError(`stream ${this.id} exceeded its window`);
    if (this.finalSize !== undefined && end > this.finalSize)
      throw new FlowControlError('data beyond final size');
    if (fin) {
      if (this.finalSize !== undefined && this.finalSize !== end)
        throw new FlowControlError('final size changed');
      this.finalSize = end;
    }
    const out: Uint8Array[] = [];
    if (end <= this.deliveredOffset) return out;
    if (offset > this.deliveredOffset) {
      if (!this.pending.has(offset) || this.pending.get(offset)!.length < data.length) {
        const old = this.pending.get(offset);
        if (old) this.pendingBytes -= old.length;
        this.pending.set(offset, recvSlab.copy(data));
        this.pendingBytes += data.length;
      }
      return out;
    }
    out.push(recvSlab.copy(data.subarray(this.deliveredOffset - offset)));
    this.deliveredOffset = end;
    this.drainPending(out);
    return out;
  }

  private drainPending(out: Uint8Array[]): void {
    while (this.pending.size > 0) {
      let next = this.pending.get(this.deliveredOffset);
      let at = this.deliveredOffset;
      if (next === undefined) {
        // Retransmissions may have been split differently: look for any overlapping piece.
        let found = false;
        for (const [offset, data] of this.pending) {
          if (offset + data.length <= this.deliveredOffset) {
            this.pending.delete(offset);
            this.pendingBytes -= data.length;
            continue;
          }
          if (offset < this.deliveredOffset) {
            next = data;
            at = offset;
            found = true;
            break;
          }
        }
        if (!found) return;
      }
      this.pending.delete(at);
      this.pendingBytes -= next!.length;
      const piece = next!.subarray(this.deliveredOffset - at);
      if (piece.length > 0) {
        out.push(piece);
        this.deliveredOffset += piece.length;
      }
    }
  }

  get finReady(): boolean {
    return !this.finDelivered && this.finalSize !== undefined && this.deliveredOffset === this.finalSize;
  }

  get buffered(): number {
    return this.pendingBytes;
  }

  /** Records consumption; returns a new limit to advertise when half the window has been used. */
  consume(bytes: number): number | undefined {
    this.consumedOffset += bytes;
    if (this.finalSize !== undefined) return undefined;
    if (this.consumedOffset + this.window - this.maxData >= this.window / 2) {
      this.maxData = this.consumedOffset + this.window;
      return this.maxData;
    }
    return undefined;
  }
}
