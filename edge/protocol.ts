/**
 * Edge request protocol v1 (see edge/PROTOCOL.md). Control messages travel on one reliable PZ stream per
 * session as length-prefixed frames; piece data travels in PZ block mode (Connection.sendBlock) with
 * `object` = request id and `offset` = byte offset inside the requested range, so blocks may arrive in
 * any order and are written where they belong.
 *
 *   frame   = length:u32be  type:u8  body            (length counts type + body, at most 4096)
 *   REQUEST   0x01  id:u32 piece:u32 offset:u32 length:u32 releaseLen:u8 release:utf8
 *                  (length 0 = to the end of the piece)
 *   CANCEL    0x02  id:u32
 *   DONE      0x81  id:u32 length:u32             all blocks of the request were queued
 *   ERROR     0x82  id:u32 code:u16 messageLen:u16 message:utf8
 *   BUSY      0x83  id:u32 retryAfterMs:u32       not served now; ask again later (or another edge)
 */
export const MAX_FRAME = 4096;

export const ErrorCode = {
  UNKNOWN_RELEASE: 1,
  PIECE_OUT_OF_RANGE: 2,
  BAD_RANGE: 3,
  ORIGIN_UNAVAILABLE: 4,
  ORIGIN_CORRUPT: 5,
  MALFORMED: 6,
  INTERNAL: 7,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;

export function errorCodeName(code: number): ErrorCodeName {
  const found = (Object.entries(ErrorCode) as Array<[ErrorCodeName, number]>).find(([, v]) => v === code);
  return found ? found[0] : 'INTERNAL';
}

export type EdgeMessage =
  | { type: 'request'; id: number; release: string; piece: number; offset: number; length: number }
  | { type: 'cancel'; id: number }
  | { type: 'done'; id: number; length: number }
  | { type: 'error'; id: number; code: number; message: string }
  | { type: 'busy'; id: number; retryAfterMs: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export class ProtocolError extends Error {
  readonly code = 'EDGE_PROTOCOL';
}

export function encodeMessage(message: EdgeMessage): Uint8Array {
  let body: Uint8Array;
  switch (message.type) {
    case 'request': {
      const release = encoder.encode(message.release);
      if (release.length > 255) throw new ProtocolError('release id longer than 255 bytes');
      body = new Uint8Array(1 + 16 + 1 + release.length);
      const view = new DataView(body.buffer);
      body[0] = 0x01;
      view.setUint32(1, message.id);
      view.setUint32(5, message.piece);
      view.setUint32(9, message.offset);
      view.setUint32(13, message.length);
      body[17] = release.length;
      body.set(release, 18);
      break;
    }
    case 'cancel':
      body = new Uint8Array(5);
      body[0] = 0x02;
      new DataView(body.buffer).setUint32(1, message.id);
      break;
    case 'done':
      body = new Uint8Array(9);
      body[0] = 0x81;
      new DataView(body.buffer).setUint32(1, message.id);
      new DataView(body.buffer).setUint32(5, message.length);
      break;
    case 'error': {
      const text = encoder.encode(message.message).slice(0, 1024);
      body = new Uint8Array(9 + text.length);
      const view = new DataView(body.buffer);
      body[0] = 0x82;
      view.setUint32(1, message.id);
      view.setUint16(5, message.code);
      view.setUint16(7, text.length);
      body.set(text, 9);
      break;
    }
    case 'busy':
      body = new Uint8Array(9);
      body[0] = 0x83;
      new DataView(body.buffer).setUint32(1, message.id);
      new DataView(body.buffer).setUint32(5, message.retryAfterMs);
      break;
  }
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, 4);
  return frame;
}

export function decodeBody(body: Uint8Array): EdgeMessage {
  if (body.length < 5) throw new ProtocolError('frame too short');
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const id = view.getUint32(1);
  switch (body[0]) {
    case 0x01: {
      if (body.length < 18) throw new ProtocolError('short REQUEST');
      const releaseLength = body[17]!;
      if (body.length !== 18 + releaseLength) throw new ProtocolError('REQUEST length mismatch');
      let release: string;
      try {
        release = decoder.decode(body.subarray(18));
      } catch {
        throw new ProtocolError('release id is not UTF-8');
      }
      return {
        type: 'request',
        id,
        piece: view.getUint32(5),
        offset: view.getUint32(9),
        length: view.getUint32(13),
        release,
      };
    }
    case 0x02:
      if (body.length !== 5) throw new ProtocolError('CANCEL length mismatch');
      return { type: 'cancel', id };
    case 0x81:
      if (body.length !== 9) throw new ProtocolError('DONE length mismatch');
      return { type: 'done', id, length: view.getUint32(5) };
    case 0x82: {
      if (body.length < 9) throw new ProtocolError('short ERROR');
      const length = view.getUint16(7);
      if (body.length !== 9 + length) throw new ProtocolError('ERROR length mismatch');
      return {
        type: 'error',
        id,
        code: view.getUint16(5),
        message: new TextDecoder().decode(body.subarray(9)),
      };
    }
    case 0x83:
      if (body.length !== 9) throw new ProtocolError('BUSY length mismatch');
      return { type: 'busy', id, retryAfterMs: view.getUint32(5) };
    default:
      throw new ProtocolError(`unknown frame type 0x${body[0]!.toString(16)}`);
  }
}

/**
 * Splits a byte stream into frames. Throws ProtocolError on an oversized or malformed frame; the caller
 * then closes the stream (a broken peer never crashes the edge).
 */
export function createFrameReader(onMessage: (message: EdgeMessage) => void): (chunk: Uint8Array) => void {
  let buffer: Uint8Array = new Uint8Array(0);
  return (chunk) => {
    if (buffer.length === 0) buffer = chunk;
    else {
      const joined = new Uint8Array(buffer.length + chunk.length);
      joined.set(buffer);
      joined.set(chunk, buffer.length);
      buffer = joined;
    }
    let offset = 0;
    while (buffer.length - offset >= 4) {
      const length = new DataView(buffer.buffer, buffer.byteOffset + offset, 4).getUint32(0);
      if (length === 0 || length > MAX_FRAME) throw new ProtocolError(`bad frame length ${length}`);
      if (buffer.length - offset - 4 < length) break;
      const body = buffer.subarray(offset + 4, offset + 4 + length);
      offset += 4 + length;
      onMessage(decodeBody(body));
    }
    buffer = buffer.subarray(offset);
  };
}

/** One-round-trip session init: what a device sends in the handshake, and what the edge answers. */
export interface InitRequest {
  v: 1;
  region?: string;
  release?: string;
}

export interface BetterEdge {
  id: string;
  address: { host: string; port: number };
  publicKey: string;
  region: string;
  load: number;
}

export interface InitReply {
  v: 1;
  id: string;
  region: string;
  /** 0..1: the larger of session occupancy and egress use. */
  load: number;
  sessions: number;
  /** True when this edge refuses new work; the device should take one of `better`. */
  busy: boolean;
  better: BetterEdge[];
}

/** Init payloads are JSON: they are small, rare (once per session) and must stay readable in traces. */
export function encodeInit(value: InitRequest | InitReply): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeInitRequest(bytes: Uint8Array): InitRequest | null {
  try {
    const value = JSON.parse(decoder.decode(bytes)) as InitRequest;
    return value && value.v === 1 ? value : null;
  } catch {
    return null;
  }
}

export function decodeInitReply(bytes: Uint8Array | undefined): InitReply | null {
  if (!bytes) return null;
  try {
    const value = JSON.parse(decoder.decode(bytes)) as InitReply;
    if (value?.v !== 1 || typeof value.load !== 'number' || typeof value.id !== 'string') return null;
    return { ...value, better: Array.isArray(value.better) ? value.better : [] };
  } catch {
    return null;
  }
}
