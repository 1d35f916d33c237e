import { DecodeError } from './errors.ts';
import { Reader, varintLength, type Writer } from './varint.ts';

/**
 * Frames carried inside sealed packets. Type is one byte; every integer is a QUIC varint.
 *
 *   0x00 PADDING            (any number of zero bytes)
 *   0x01 PING
 *   0x02 ACK                largest, ack_delay_us, range_count, first_range, (gap, range_len)*
 *   0x08 STREAM             stream_id, offset, length, data            (0x09: same with FIN)
 *   0x0a BLOCK              seq, object, offset, length, data
 *   0x10 MAX_DATA           max
 *   0x11 MAX_STREAM_DATA    stream_id, max
 *   0x12 RESET_STREAM       stream_id, code
 *   0x1a PATH_CHALLENGE     8 bytes
 *   0x1b PATH_RESPONSE      8 bytes
 *   0x1c CONNECTION_CLOSE   code, reason_length, reason (UTF-8)
 *   0x20 INIT               client static key (32), payload_length, payload      (INITIAL only)
 *   0x21 INIT_REPLY         has_payload (0|1), [payload_length, payload]           (ANSWER only)
 *   0x30 REPAIR             first_pn (u32), span (u8), index (u8), symbol (to the end of the packet)
 *
 * ACK ranges follow RFC 9000 §19.3: first_range counts packets below `largest`; each (gap, len) pair
 * steps down by gap + 2 then covers len + 1 packets.
 */
export const FrameType = {
  PADDING: 0x00,
  PING: 0x01,
  ACK: 0x02,
  STREAM: 0x08,
  STREAM_FIN: 0x09,
  BLOCK: 0x0a,
  MAX_DATA: 0x10,
  MAX_STREAM_DATA: 0x11,
  RESET_STREAM: 0x12,
  PATH_CHALLENGE: 0x1a,
  PATH_RESPONSE: 0x1b,
  CONNECTION_CLOSE: 0x1c,
  INIT: 0x20,
  INIT_REPLY: 0x21,
  REPAIR: 0x30,
} as const;

/** Bytes a REPAIR frame takes besides its symbol. */
export const REPAIR_FRAME_OVERHEAD = 7;

export interface AckRange {
  start: number;
  end: number;
}

export type Frame =
  | { type: 'padding'; length: number }
  | { type: 'ping' }
  | { type: 'ack'; largest: number; delayUs: number; ranges: AckRange[] /* descending */ }
  | { type: 'stream'; id: number; offset: number; data: Uint8Array; fin: boolean }
  | { type: 'block'; seq: number; object: number; offset: number; data: Uint8Array }
  | { type: 'max-data'; max: number }
  | { type: 'max-stream-data'; id: number; max: number }
  | { type: 'reset-stream'; id: number; code: number }
  | { type: 'path-challenge'; data: Uint8Array }
  | { type: 'path-response'; data: Uint8Array }
  | { type: 'close'; code: number; reason: string }
  | { type: 'init'; staticKey: Uint8Array; payload: Uint8Array }
  | { type: 'init-reply'; payload: Uint8Array | undefined }
  /** Tail repair symbol `index` over packets first_pn .. first_pn + span - 1 (fec.ts); always last. */
  | { type: 'repair'; firstPn: number; span: number; index: number; symbol: Uint8Array };

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** Bytes `frame` takes on the wire. */
export function frameLength(frame: Frame): number {
  switch (frame.type) {
    case 'padding':
      return frame.length;
    case 'ping':
      return 1;
    case 'ack': {
      const [first, ...rest] = frame.ranges;
      if (first === undefined) throw new RangeError('ack without ranges');
      let n = 1 + varintLength(frame.largest) + varintLength(frame.delayUs) + varintLength(rest.length);
      n += varintLength(first.end - first.start);
      let previousStart = first.start;
      for (const range of rest) {
        n += varintLength(previousStart - range.end - 2) + varintLength(range.end - range.start);
        previousStart = range.start;
      }
      return n;
    }
    case 'stream':
      return streamFrameOverhead(frame.id, frame.offset, frame.data.length) + frame.data.length;
    case 'block':
      return blockFrameOverhead(frame.seq, frame.object, frame.offset, frame.data.length) + frame.data.length;
    case 'max-data':
      return 1 + varintLength(frame.max);
    case 'max-stream-data':
      return 1 + varintLength(frame.id) + varintLength(frame.max);
    case 'reset-stream':
      return 1 + varintLength(frame.id) + varintLength(frame.code);
    case 'path-challenge':
    case 'path-response':
      return 9;
    case 'close': {
      const reason = utf8.encode(frame.reason);
      return 1 + varintLength(frame.code) + varintLength(reason.length) + reason.length;
    }
    case 'init':
      return 1 + 32 + varintLength(frame.payload.length) + frame.payload.length;
    case 'init-reply':
      return frame.payload === undefined ? 2 : 2 + varintLength(frame.payload.length) + frame.payload.length;
    case 'repair':
      return REPAIR_FRAME_OVERHEAD + frame.symbol.length;
  }
}

export function streamFrameOverhead(id: number, offset: number, length: number): number {
  return 1 + varintLength(id) + varintLength(offset) + varintLength(length);
}

export function blockFrameOverhead(seq: number, object: number, offset: number, length: number): number {
  return 1 + varintLength(seq) + varintLength(object) + varintLength(offset) + varintLength(length);
}

export function writeFrame(w: Writer, frame: Frame): void {
  switch (frame.type) {
    case 'padding':
      for (let i = 0; i < frame.length; i++) w.u8(0);
      return;
    case 'ping':
      w.u8(FrameType.PING);
      return;
    case 'ack': {
      const [first, ...rest] = frame.ranges;
      if (first === undefined) throw new RangeError('ack without ranges');
      w.u8(FrameType.ACK);
      w.varint(frame.largest);
      w.varint(frame.delayUs);
      w.varint(rest.length);
      w.varint(first.end - first.start);
      let previousStart = first.start;
      for (const range of rest) {
        w.varint(previousStart - range.end - 2);
        w.varint(range.end - range.start);
        previousStart = range.start;
      }
      return;
    }
    case 'stream':
      w.u8(frame.fin ? FrameType.STREAM_FIN : FrameType.STREAM);
      w.varint(frame.id);
      w.varint(frame.offset);
      w.varint(frame.data.length);
      w.raw(frame.data);
      return;
    case 'block':
      w.u8(FrameType.BLOCK);
      w.varint(frame.seq);
      w.varint(frame.object);
      w.varint(frame.offset);
      w.varint(frame.data.length);
      w.raw(frame.data);
      return;
    case 'max-data':
      w.u8(FrameType.MAX_DATA);
      w.varint(frame.max);
      return;
    case 'max-stream-data':
      w.u8(FrameType.MAX_STREAM_DATA);
      w.varint(frame.id);
      w.varint(frame.max);
      return;
    case 'reset-stream':
      w.u8(FrameType.RESET_STREAM);
      w.varint(frame.id);
      w.varint(frame.code);
      return;
    case 'path-challenge':
    case 'path-response':
      if (frame.data.length !== 8) throw new RangeError('path data must be 8 bytes');
      w.u8(frame.type === 'path-challenge' ? FrameType.PATH_CHALLENGE : FrameType.PATH_RESPONSE);
      w.raw(frame.data);
      return;
    case 'close': {
      const reason = utf8.encode(frame.reason);
      w.u8(FrameType.CONNECTION_CLOSE);
      w.varint(frame.code);
      w.varint(reason.length);
      w.raw(reason);
      return;
    }
    case 'init':
      if (frame.staticKey.length !== 32) throw new RangeError('static key must be 32 bytes');
      w.u8(FrameType.INIT);
      w.raw(frame.staticKey);
      w.varint(frame.payload.length);
      w.raw(frame.payload);
      return;
    case 'init-reply':
      w.u8(FrameType.INIT_REPLY);
      if (frame.payload === undefined) {
        w.u8(0);
      } else {
        w.u8(1);
        w.varint(frame.payload.length);
        w.raw(frame.payload);
      }
      return;
    case 'repair':
      if (frame.span < 1 || frame.span > 255 || frame.index > 255) throw new RangeError('bad repair group');
      w.u8(FrameType.REPAIR);
      w.u32(frame.firstPn);
      w.u8(frame.span);
      w.u8(frame.index);
      w.raw(frame.symbol);
      return;
  }
}

/**
 * Decodes every frame in a packet payload. Data fields are views into `payload` (callers copy what
 * they keep). Throws DecodeError on anything malformed, including ACK ranges that go below zero.
 */
export function decodeFrames(payload: Uint8Array): Frame[] {
  const r = new Reader(payload);
  const frames: Frame[] = [];
  while (r.remaining > 0) frames.push(decodeFrame(r));
  return frames;
}

/** Decodes the frame at the reader's position and moves past it (a run of PADDING is one frame). */
export function decodeFrame(r: Reader): Frame {
  const payload = r.bytes;
  const type = r.u8();
  switch (type) {
    case FrameType.PADDING: {
      let length = 1;
      while (r.remaining > 0 && payload[r.offset] === 0) {
        r.offset++;
        length++;
      }
      return { type: 'padding', length };
    }
    case FrameType.PING:
      return { type: 'ping' };
    case FrameType.ACK: {
      const largest = r.varint();
      const delayUs = r.varint();
      const count = r.varint();
      if (count > 256) throw new DecodeError('too many ack ranges');
      const firstLength = r.varint();
      if (firstLength > largest) throw new DecodeError('ack range below zero');
      const ranges: AckRange[] = [{ start: largest - firstLength, end: largest }];
      let smallest = largest - firstLength;
      for (let i = 0; i < count; i++) {
        const gap = r.varint();
        const length = r.varint();
        const end = smallest - gap - 2;
        const start = end - length;
        if (start < 0) throw new DecodeError('ack range below zero');
        ranges.push({ start, end });
        smallest = start;
      }
      return { type: 'ack', largest, delayUs, ranges };
    }
    case FrameType.STREAM:
    case FrameType.STREAM_FIN: {
      const id = r.varint();
      const offset = r.varint();
      const data = r.raw(r.varint());
      return { type: 'stream', id, offset, data, fin: type === FrameType.STREAM_FIN };
    }
    case FrameType.BLOCK: {
      const seq = r.varint();
      const object = r.varint();
      const offset = r.varint();
      const data = r.raw(r.varint());
      return { type: 'block', seq, object, offset, data };
    }
    case FrameType.MAX_DATA:
      return { type: 'max-data', max: r.varint() };
    case FrameType.MAX_STREAM_DATA:
      return { type: 'max-stream-data', id: r.varint(), max: r.varint() };
    case FrameType.RESET_STREAM:
      return { type: 'reset-stream', id: r.varint(), code: r.varint() };
    case FrameType.PATH_CHALLENGE:
      return { type: 'path-challenge', data: r.raw(8) };
    case FrameType.PATH_RESPONSE:
      return { type: 'path-response', data: r.raw(8) };
    case FrameType.CONNECTION_CLOSE: {
      const code = r.varint();
      const reason = utf8Decoder.decode(r.raw(r.varint()));
      return { type: 'close', code, reason };
    }
    case FrameType.INIT: {
      const staticKey = r.raw(32);
      const payload = r.raw(r.varint());
      return { type: 'init', staticKey, payload };
    }
    case FrameType.INIT_REPLY: {
      const has = r.u8();
      if (has > 1) throw new DecodeError('bad init-reply flag');
      return { type: 'init-reply', payload: has === 1 ? r.raw(r.varint()) : undefined };
    }
    case FrameType.REPAIR: {
      const firstPn = r.u32();
      const span = r.u8();
      const index = r.u8();
      if (span === 0) throw new DecodeError('empty repair group');
      return { type: 'repair', firstPn, span, index, symbol: r.rest() };
    }
    default:
      throw new DecodeError(`unknown frame type 0x${type.toString(16)}`);
  }
}

/** Frames that oblige the peer to acknowledge the packet. */
export function isAckEliciting(frame: Frame): boolean {
  return frame.type !== 'ack' && frame.type !== 'padding' && frame.type !== 'close';
}
