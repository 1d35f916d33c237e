/**
 * Rendezvous messages between an agent and the tracker, carried on a PZ stream (so they are already
 * encrypted and authenticated to the tracker's static key). Each frame is a 2-byte big-endian length
 * followed by the message. Version 1 message layout:
 *
 *   0      version = 1
 *   1      type
 *   REGISTER      0x01  str8 deviceId | str8 deviceToken | str8 release | u8 mapping | candidates
 *   REGISTERED    0x02  u16 keepaliveSec | addr observed (our UDP source as the tracker saw it)
 *   PUNCH_REQUEST 0x03  u32 requestId | str8 targetDeviceId
 *   PUNCH_GO      0x04  u32 requestId (0 on the side that did not ask) | 8 bytes punch session |
 *                       str8 peerDeviceId | u8 peerMapping | u8 role (0 initiator, 1 responder) | candidates
 *   ERROR         0x05  u32 requestId | str8 code | str8 message
 *
 *   str8       = u8 length | UTF-8 bytes
 *   addr       = str8 host | u16 port
 *   candidates = u8 count (<= 16) | count x (u8 type: 0 host, 1 srflx, 2 mapped, 3 prflx | addr)
 *   mapping    = 0 none, 1 endpoint-independent, 2 address-dependent, 3 address-and-port-dependent, 4 unknown
 */
import type { MappingBehaviour } from '../nat/index.ts';
import type { Address } from '../runtime/index.ts';
import { SwarmlaneError } from '../runtime/index.ts';
import type { PeerCandidate } from './swarm-store.ts';

export const RENDEZVOUS_VERSION = 1;
export const MAX_FRAME = 4096;

export type RendezvousMessage =
  | {
      type: 'register';
      deviceId: string;
      deviceToken: string;
      release: string;
      mapping: MappingBehaviour;
      candidates: PeerCandidate[];
    }
  | { type: 'registered'; keepaliveSec: number; observed: Address }
  | { type: 'punch-request'; requestId: number; target: string }
  | {
      type: 'punch-go';
      requestId: number;
      session: Uint8Array;
      peer: string;
      peerMapping: MappingBehaviour;
      role: 'initiator' | 'responder';
      candidates: PeerCandidate[];
    }
  | { type: 'error'; requestId: number; code: string; message: string };

export class RendezvousDecodeError extends SwarmlaneError {
  constructor(why: string) {
    super('RENDEZVOUS_MALFORMED', `malformed rendezvous message: ${why}`);
  }
}

const TYPES = { register: 1, registered: 2, 'punch-request': 3, 'punch-go': 4, error: 5 } as const;
const MAPPINGS: MappingBehaviour[] = [
  'none',
  'endpoint-independent',
  'address-dependent',
  'address-and-port-dependent',
  'unknown',
];
const CANDIDATE_TYPES: PeerCandidate['type'][] = ['host', 'srflx', 'mapped', 'prflx'];

class Writer {
  private readonly bytes: number[] = [];
  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u16(v >>> 16).u16(v & 0xffff);
  }
  raw(b: Uint8Array): this {
    for (const x of b) this.bytes.push(x);
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    if (b.length > 255) throw new RangeError(`rendezvous string longer than 255 bytes: ${s.slice(0, 20)}...`);
    return this.u8(b.length).raw(b);
  }
  addr(a: Address): this {
    return this.str(a.host).u16(a.port);
  }
  candidates(list: readonly PeerCandidate[]): this {
    if (list.length > 16) throw new RangeError('at most 16 candidates');
    this.u8(list.length);
    for (const c of list) this.u8(CANDIDATE_TYPES.indexOf(c.type)).addr(c);
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

class Reader {
  private at = 0;
  constructor(private readonly b: Uint8Array) {}
  u8(): number {
    const v = this.b[this.at];
    if (v === undefined) throw new RendezvousDecodeError('truncated');
    this.at++;
    return v;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  u32(): number {
    return this.u16() * 0x10000 + this.u16();
  }
  raw(n: number): Uint8Array {
    if (this.at + n > this.b.length) throw new RendezvousDecodeError('truncated');
    const out = this.b.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }
  str(): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.raw(this.u8()));
    } catch (error) {
      if (error instanceof RendezvousDecodeError) throw error;
      throw new RendezvousDecodeError('invalid UTF-8');
    }
  }
  addr(): Address {
    return { host: this.str(), port: this.u16() };
  }
  mapping(): MappingBehaviour {
    const m = MAPPINGS[this.u8()];
    if (!m) throw new RendezvousDecodeError('unknown mapping');
    return m;
  }
  candidates(): PeerCandidate[] {
    const n = this.u8();
    if (n > 16) throw new RendezvousDecodeError('too many candidates');
    const out: PeerCandidate[] = [];
    for (let i = 0; i < n; i++) {
      const type = CANDIDATE_TYPES[this.u8()];
      if (!type) throw new RendezvousDecodeError('unknown candidate type');
      out.push({ type, ...this.addr() });
    }
    return out;
  }
  end(): void {
    if (this.at !== this.b.length) throw new RendezvousDecodeError('trailing bytes');
  }
}

export function encodeRendezvous(message: RendezvousMessage): Uint8Array {
  const w = new Writer().u8(RENDEZVOUS_VERSION).u8(TYPES[message.type]);
  switch (message.type) {
    case 'register':
      w.str(message.deviceId)
        .str(message.deviceToken)
        .str(message.release)
        .u8(MAPPINGS.indexOf(message.mapping))
        .candidates(message.candidates);
      break;
    case 'registered':
      w.u16(message.keepaliveSec).addr(message.observed);
      break;
    case 'punch-request':
      w.u32(message.requestId).str(message.target);
      break;
    case 'punch-go':
      if (message.session.length !== 8) throw new RangeError('punch session must be 8 bytes');
      w.u32(message.requestId)
        .raw(message.session)
        .str(message.peer)
        .u8(MAPPINGS.indexOf(message.peerMapping))
        .u8(message.role === 'initiator' ? 0 : 1)
        .candidates(message.candidates);
      break;
    case 'error':
      w.u32(message.requestId).str(message.code).str(message.message.slice(0, 200));
      break;
  }
  return w.done();
}

export function decodeRendezvous(bytes: Uint8Array): RendezvousMessage {
  const r = new Reader(bytes);
  if (r.u8() !== RENDEZVOUS_VERSION) throw new RendezvousDecodeError('unsupported version');
  let message: RendezvousMessage;
  switch (r.u8()) {
    case TYPES.register:
      message = {
        type: 'register',
        deviceId: r.str(),
        deviceToken: r.str(),
        release: r.str(),
        mapping: r.mapping(),
        candidates: r.candidates(),
      };
      break;
    case TYPES.registered:
      message = { type: 'registered', keepaliveSec: r.u16(), observed: r.addr() };
      break;
    case TYPES['punch-request']:
      message = { type: 'punch-request', requestId: r.u32(), target: r.str() };
      break;
    case TYPES['punch-go']: {
      const requestId = r.u32();
      const session = r.raw(8);
      const peer = r.str();
      const peerMapping = r.mapping();
      const role = r.u8();
      if (role > 1) throw new RendezvousDecodeError('unknown role');
      message = {
        type: 'punch-go',
        requestId,
        session,
        peer,
        peerMapping,
        role: role === 0 ? 'initiator' : 'responder',
        candidates: r.candidates(),
      };
      break;
    }
    case TYPES.error:
      message = { type: 'error', requestId: r.u32(), code: r.str(), message: r.str() };
      break;
    default:
      throw new RendezvousDecodeError('unknown type');
  }
  r.end();
  return message;
}

/** Length-prefixed framing for a byte stream: feed chunks, get whole messages. */
export function createFrameReader(onFrame: (frame: Uint8Array) => void): (chunk: Uint8Array) => void {
  let buffer = new Uint8Array(0);
  return (chunk) => {
    const joined = new Uint8Array(buffer.length + chunk.length);
    joined.set(buffer);
    joined.set(chunk, buffer.length);
    let at = 0;
    while (joined.length - at >= 2) {
      const length = ((joined[at] as number) << 8) | (joined[at + 1] as number);
      if (length > MAX_FRAME) throw new RendezvousDecodeError('frame too large');
      if (joined.length - at - 2 < length) break;
      onFrame(joined.slice(at + 2, at + 2 + length));
      at += 2 + length;
    }
    buffer = joined.slice(at);
  };
}

export function frame(message: RendezvousMessage): Uint8Array {
  const body = encodeRendezvous(message);
  if (body.length > MAX_FRAME) throw new RangeError('rendezvous message too large');
  const out = new Uint8Array(body.length + 2);
  out[0] = body.length >>> 8;
  out[1] = body.length & 0xff;
  out.set(body, 2);
  return out;
}
