/**
 * STUN message codec: RFC 8489 Binding plus the RFC 5780 NAT-behaviour-discovery attributes.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |0 0|     STUN Message Type     |         Message Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  Magic Cookie = 0x2112A442                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 Transaction ID (96 bits)                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * then attributes: type (16) | length (16) | value, padded to 4 bytes.
 *
 * Address attributes (MAPPED-ADDRESS, XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS):
 * 0x00 | family (1 = IPv4, 2 = IPv6) | port (16) | address (32 or 128); the XOR form XORs the port with
 * the cookie's top 16 bits and the address with cookie || transaction ID.
 * FINGERPRINT (last attribute) = CRC-32 of everything before it, XOR 0x5354554E, with the header length
 * already counting the FINGERPRINT attribute.
 */
import type { Address } from '../../runtime/index.ts';
import { NatDecodeError } from '../errors.ts';
import { formatIPv4, formatIPv6, parseIPv4 } from '../ip.ts';
import { crc32 } from './crc32.ts';

export const MAGIC_COOKIE = 0x2112a442;
const FINGERPRINT_XOR = 0x5354554e;
const HEADER_LENGTH = 20;
/** Larger than any Binding message we make or accept; bounds work on hostile input. */
export const MAX_STUN_MESSAGE = 1500;

export const StunMethod = { binding: 0x001 } as const;
export type StunClass = 'request' | 'indication' | 'success' | 'error';

export const StunAttr = {
  mappedAddress: 0x0001,
  changeRequest: 0x0003,
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  unknownAttributes: 0x000a,
  xorMappedAddress: 0x0020,
  padding: 0x0026,
  responsePort: 0x0027,
  software: 0x8022,
  fingerprint: 0x8028,
  responseOrigin: 0x802b,
  otherAddress: 0x802c,
  /**
   * swarmlane private, comprehension-optional: on a request forwarded between two cooperating STUN
   * servers, the client the partner must answer (a second server standing in for RFC 5780's
   * alternate IP). Ordinary servers ignore it.
   */
  answerTo: 0xc057,
} as const;

export interface StunMessage {
  method: number;
  class: StunClass;
  /** 12 bytes. */
  transactionId: Uint8Array;
  mappedAddress?: Address;
  xorMappedAddress?: Address;
  responseOrigin?: Address;
  otherAddress?: Address;
  answerTo?: Address;
  changeRequest?: { changeIp: boolean; changePort: boolean };
  errorCode?: { code: number; reason: string };
  software?: string;
  /** Comprehension-required attribute types we did not understand (a server answers 420 for them). */
  unknownRequired?: number[];
  /** Set by the decoder: whether a FINGERPRINT attribute was present (its value is always checked). */
  hasFingerprint?: boolean;
}

const CLASS_BITS: Record<StunClass, number> = {
  request: 0x000,
  indication: 0x010,
  success: 0x100,
  error: 0x110,
};

function messageType(method: number, klass: StunClass): number {
  // Method bits M0-M11 are interleaved with the class bits C0 (bit 4) and C1 (bit 8).
  const m = method & 0xfff;
  return ((m & 0xf80) << 2) | ((m & 0x070) << 1) | (m & 0x00f) | CLASS_BITS[klass];
}

function splitType(type: number): { method: number; class: StunClass } {
  const method = ((type & 0x3e00) >> 2) | ((type & 0x00e0) >> 1) | (type & 0x000f);
  const bits = type & 0x0110;
  const klass: StunClass =
    bits === 0x000 ? 'request' : bits === 0x010 ? 'indication' : bits === 0x100 ? 'success' : 'error';
  return { method, class: klass };
}

/** Cheap test used by demultiplexers: could these bytes be a STUN message at all? */
export function looksLikeStun(bytes: Uint8Array): boolean {
  if (bytes.length < HEADER_LENGTH || bytes.length > MAX_STUN_MESSAGE) return false;
  if ((bytes[0]! & 0xc0) !== 0) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint32(4) === MAGIC_COOKIE && view.getUint16(2) + HEADER_LENGTH === bytes.length;
}

class Writer {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;
  attribute(type: number, value: Uint8Array): void {
    const padded = (value.length + 3) & ~3;
    const out = new Uint8Array(4 + padded);
    const view = new DataView(out.buffer);
    view.setUint16(0, type);
    view.setUint16(2, value.length);
    out.set(value, 4);
    this.chunks.push(out);
    this.length += out.length;
  }
  body(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

function encodeAddress(address: Address, xor: boolean, transactionId: Uint8Array): Uint8Array {
  const ip = parseIPv4(address.host);
  if (!ip) throw new RangeError(`STUN encoder supports IPv4 only, got "${address.host}"`);
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  out[1] = 0x01;
  view.setUint16(2, xor ? address.port ^ (MAGIC_COOKIE >>> 16) : address.port);
  const cookie = new Uint8Array([0x21, 0x12, 0xa4, 0x42]);
  for (let i = 0; i < 4; i++) out[4 + i] = xor ? ip[i]! ^ cookie[i]! : ip[i]!;
  void transactionId; // IPv4 XOR uses only the cookie; kept for symmetry with IPv6.
  return out;
}

function decodeAddress(value: Uint8Array, xor: boolean, transactionId: Uint8Array): Address {
  if (value.length < 4) throw new NatDecodeError('STUN address attribute', 'too short');
  const family = value[1];
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const rawPort = view.getUint16(2);
  const port = xor ? rawPort ^ (MAGIC_COOKIE >>> 16) : rawPort;
  const key = new Uint8Array(16);
  new DataView(key.buffer).setUint32(0, MAGIC_COOKIE);
  key.set(transactionId, 4);
  if (family === 0x01) {
    if (value.length !== 8) throw new NatDecodeError('STUN address attribute', 'IPv4 length is not 8');
    const ip = value.slice(4, 8);
    if (xor) for (let i = 0; i < 4; i++) ip[i] = ip[i]! ^ key[i]!;
    return { host: formatIPv4(ip), port };
  }
  if (family === 0x02) {
    if (value.length !== 20) throw new NatDecodeError('STUN address attribute', 'IPv6 length is not 20');
    const ip = value.slice(4, 20);
    if (xor) for (let i = 0; i < 16; i++) ip[i] = ip[i]! ^ key[i]!;
    return { host: formatIPv6(ip), port };
  }
  throw new NatDecodeError('STUN address attribute', `unknown family ${family}`);
}

export interface EncodeOptions {
  /** Append FINGERPRINT (default true: lets STUN share a socket with other protocols safely). */
  fingerprint?: boolean;
}

export function encodeStun(message: StunMessage, options: EncodeOptions = {}): Uint8Array {
  if (message.transactionId.length !== 12) throw new RangeError('transaction ID must be 12 bytes');
  const w = new Writer();
  const tid = message.transactionId;
  if (message.mappedAddress)
    w.attribute(StunAttr.mappedAddress, encodeAddress(message.mappedAddress, false, tid));
  if (message.xorMappedAddress)
    w.attribute(StunAttr.xorMappedAddress, encodeAddress(message.xorMappedAddress, true, tid));
  if (message.changeRequest) {
    const v = new Uint8Array(4);
    v[3] = (message.changeRequest.changeIp ? 0x04 : 0) | (message.changeRequest.changePort ? 0x02 : 0);
    w.attribute(StunAttr.changeRequest, v);
  }
  if (message.errorCode) {
    const reason = new TextEncoder().encode(message.errorCode.reason.slice(0, 127));
    const v = new Uint8Array(4 + reason.length);
    v[2] = Math.floor(message.errorCode.code / 100) & 0x07;
    v[3] = message.errorCode.code % 100;
    v.set(reason, 4);
    w.attribute(StunAttr.errorCode, v);
  }
  if (message.unknownRequired?.length) {
    const v = new Uint8Array(message.unknownRequired.length * 2);
    const view = new DataView(v.buffer);
    message.unknownRequired.forEach((t, i) => {
      view.setUint16(i * 2, t);
    });
    w.attribute(StunAttr.unknownAttributes, v);
  }
  if (message.responseOrigin)
    w.attribute(StunAttr.responseOrigin, encodeAddress(message.responseOrigin, false, tid));
  if (message.otherAddress)
    w.attribute(StunAttr.otherAddress, encodeAddress(message.otherAddress, false, tid));
  if (message.answerTo) w.attribute(StunAttr.answerTo, encodeAddress(message.answerTo, true, tid));
  if (message.software !== undefined)
    w.attribute(StunAttr.software, new TextEncoder().encode(message.software.slice(0, 127)));
  const body = w.body();
  const withFingerprint = options.fingerprint ?? true;
  const total = HEADER_LENGTH + body.length + (withFingerprint ? 8 : 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint16(0, messageType(message.method, message.class));
  view.setUint16(2, total - HEADER_LENGTH);
  view.setUint32(4, MAGIC_COOKIE);
  out.set(tid, 8);
  out.set(body, HEADER_LENGTH);
  if (withFingerprint) {
    const at = HEADER_LENGTH + body.length;
    view.setUint16(at, StunAttr.fingerprint);
    view.setUint16(at + 2, 4);
    view.setUint32(at + 4, (crc32(out.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0);
  }
  return out;
}

/** Decodes a STUN message; throws {@link NatDecodeError} on anything malformed. Never reads past `bytes`. */
export function decodeStun(bytes: Uint8Array): StunMessage {
  if (bytes.length < HEADER_LENGTH) throw new NatDecodeError('STUN message', 'shorter than the header');
  if (bytes.length > MAX_STUN_MESSAGE) throw new NatDecodeError('STUN message', 'too long');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(0);
  if (type & 0xc000) throw new NatDecodeError('STUN message', 'first two bits are not zero');
  if (view.getUint32(4) !== MAGIC_COOKIE) throw new NatDecodeError('STUN message', 'bad magic cookie');
  const length = view.getUint16(2);
  if (length % 4 !== 0) throw new NatDecodeError('STUN message', 'length is not a multiple of 4');
  if (length + HEADER_LENGTH !== bytes.length)
    throw new NatDecodeError('STUN message', 'length field does not match the datagram');
  const { method, class: klass } = splitType(type);
  const transactionId = bytes.slice(8, 20);
  const message: StunMessage = { method, class: klass, transactionId };
  const unknown: number[] = [];
  let offset = HEADER_LENGTH;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) throw new NatDecodeError('STUN message', 'truncated attribute header');
    const attrType = view.getUint16(offset);
    const attrLength = view.getUint16(offset + 2);
    const valueStart = offset + 4;
    const next = valueStart + ((attrLength + 3) & ~3);
    if (next > bytes.length) throw new NatDecodeError('STUN message', 'attribute overruns the message');
    const value = bytes.subarray(valueStart, valueStart + attrLength);
    if (message.hasFingerprint) throw new NatDecodeError('STUN message', 'attribute after FINGERPRINT');
    switch (attrType) {
      case StunAttr.mappedAddress:
        message.mappedAddress ??= decodeAddress(value, false, transactionId);
        break;
      case StunAttr.xorMappedAddress:
        message.xorMappedAddress ??= decodeAddress(value, true, transactionId);
        break;
      case StunAttr.responseOrigin:
        message.responseOrigin ??= decodeAddress(value, false, transactionId);
        break;
      case StunAttr.otherAddress:
        message.otherAddress ??= decodeAddress(value, false, transactionId);
        break;
      case StunAttr.answerTo:
        message.answerTo ??= decodeAddress(value, true, transactionId);
        break;
      case StunAttr.changeRequest: {
        if (attrLength !== 4) throw new NatDecodeError('STUN CHANGE-REQUEST', 'length is not 4');
        const flags = value[3]!;
        message.changeRequest = { changeIp: (flags & 0x04) !== 0, changePort: (flags & 0x02) !== 0 };
        break;
      }
      case StunAttr.errorCode: {
        if (attrLength < 4) throw new NatDecodeError('STUN ERROR-CODE', 'too short');
        const code = (value[2]! & 0x07) * 100 + value[3]!;
        message.errorCode = { code, reason: new TextDecoder().decode(value.subarray(4)) };
        break;
      }
      case StunAttr.software:
        message.software = new TextDecoder().decode(value);
        break;
      case StunAttr.fingerprint: {
        if (attrLength !== 4) throw new NatDecodeError('STUN FINGERPRINT', 'length is not 4');
        const expected = (crc32(bytes.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
        if (view.getUint32(valueStart) !== expected)
          throw new NatDecodeError('STUN message', 'bad FINGERPRINT');
        message.hasFingerprint = true;
        break;
      }
      case StunAttr.unknownAttributes:
      case StunAttr.username:
      case StunAttr.messageIntegrity:
      case StunAttr.padding:
      case StunAttr.responsePort:
        break; // understood well enough to ignore: we run unauthenticated Binding only
      default:
        if (attrType < 0x8000) unknown.push(attrType);
    }
    offset = next;
  }
  if (unknown.length) message.unknownRequired = unknown;
  return message;
}

/** The reflexive address a response carries: XOR-MAPPED-ADDRESS, else the legacy MAPPED-ADDRESS. */
export function reflexiveAddress(message: StunMessage): Address | undefined {
  return message.xorMappedAddress ?? message.mappedAddress;
}

export function sameTransaction(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
