import { DecodeError } from './errors.ts';
import { Reader, Writer } from './varint.ts';

/**
 * PZ packet headers. The header is sent in clear and authenticated as AEAD associated data.
 *
 * Long header (handshake, retry, version negotiation), first byte 0b1100_00TT:
 *
 *   0      1..4      5     6..        .       .
 *   +------+---------+-----+---------+-----+---------+------------------------------+
 *   | 0xC0 | version | dcl | dcid    | scl | scid    | type-specific                |
 *   | |TT  | u32 BE  | u8  | dcl B   | u8  | scl B   |                              |
 *   +------+---------+-----+---------+-----+---------+------------------------------+
 *   TT=0 INITIAL:  token-len varint, token, client ephemeral (32), pn u32, AEAD ciphertext
 *   TT=1 ANSWER:   server ephemeral (32), pn u32, AEAD ciphertext (1-RTT server->client key)
 *   TT=2 RETRY:    token-len varint, token                                   (not encrypted)
 *   TT=3 VERSION:  version = 0, list of supported versions u32 BE             (not encrypted)
 *
 * Short header (everything after the handshake), first byte 0b0100_0K00 (K = key phase):
 *
 *   +------+------------------+---------+---------------------------------------+
 *   | 0x40 | dcid (8 bytes)   | pn u32  | AEAD ciphertext (frames + 16-byte tag) |
 *   | |K<<2|                  |         |                                       |
 *   +------+------------------+---------+---------------------------------------+
 *
 * Every PZ first byte is >= 0x40, so the endpoint can hand 0x00-0x3f (STUN, hole punching) elsewhere.
 */
export const PZ_VERSION = 0x505a_0001;
export const CID_LENGTH = 8;
export const KEY_LENGTH = 32;
export const TAG_LENGTH = 16;
export const SHORT_HEADER_LENGTH = 1 + CID_LENGTH + 4;
/** Largest datagram we send; fits any path with a 1280-byte IPv6 / 1500-byte Ethernet MTU. */
export const MAX_DATAGRAM = 1200;
/** Initials are padded to this size so a server's answer can never amplify a spoofed source much. */
export const MIN_INITIAL_SIZE = 1200;

export const LongType = { INITIAL: 0, ANSWER: 1, RETRY: 2, VERSION: 3 } as const;
export type LongTypeValue = (typeof LongType)[keyof typeof LongType];

export interface InitialHeader {
  kind: 'initial';
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
  token: Uint8Array;
  ephemeral: Uint8Array;
  pn: number;
}
export interface AnswerHeader {
  kind: 'answer';
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
  ephemeral: Uint8Array;
  pn: number;
}
export interface RetryPacket {
  kind: 'retry';
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
  token: Uint8Array;
}
export interface VersionPacket {
  kind: 'version';
  dcid: Uint8Array;
  scid: Uint8Array;
  versions: number[];
}
export interface ShortHeader {
  kind: 'short';
  keyPhase: 0 | 1;
  dcid: Uint8Array;
  pn: number;
}
export type Header = InitialHeader | AnswerHeader | RetryPacket | VersionPacket | ShortHeader;

/** A decoded packet: its header, the header bytes (AEAD associated data) and the sealed payload. */
export interface ParsedPacket<H extends Header = Header> {
  header: H;
  headerBytes: Uint8Array;
  payload: Uint8Array;
}

export function isPzPacket(firstByte: number): boolean {
  return firstByte >= 0x40;
}

function writeLongPrefix(
  w: Writer,
  type: LongTypeValue,
  version: number,
  dcid: Uint8Array,
  scid: Uint8Array,
) {
  w.u8(0xc0 | type);
  w.u32(version);
  w.u8(dcid.length);
  w.raw(dcid);
  w.u8(scid.length);
  w.raw(scid);
}

/** Writes a header into `w` (payload follows); returns nothing, `w.offset` is the header length. */
export function writeHeader(w: Writer, header: Header): void {
  switch (header.kind) {
    case 'short':
      w.u8(0x40 | (header.keyPhase << 2));
      w.raw(header.dcid);
      w.u32(header.pn);
      return;
    case 'initial':
      writeLongPrefix(w, LongType.INITIAL, header.version, header.dcid, header.scid);
      w.varint(header.token.length);
      w.raw(header.token);
      w.raw(header.ephemeral);
      w.u32(header.pn);
      return;
    case 'answer':
      writeLongPrefix(w, LongType.ANSWER, header.version, header.dcid, header.scid);
      w.raw(header.ephemeral);
      w.u32(header.pn);
      return;
    case 'retry':
      writeLongPrefix(w, LongType.RETRY, header.version, header.dcid, header.scid);
      w.varint(header.token.length);
      w.raw(header.token);
      return;
    case 'version':
      writeLongPrefix(w, LongType.VERSION, 0, header.dcid, header.scid);
      for (const v of header.versions) w.u32(v);
      return;
  }
}

/** Encodes a payload-less packet (retry, version negotiation). */
export function encodeUnsealed(header: RetryPacket | VersionPacket): Uint8Array {
  const w = new Writer(new Uint8Array(MAX_DATAGRAM));
  writeHeader(w, header);
  return w.bytes.slice(0, w.offset);
}

function readCid(r: Reader): Uint8Array {
  const length = r.u8();
  if (length > 20) throw new DecodeError('connection id too long');
  return r.raw(length);
}

/** Parses a datagram's header. Throws DecodeError for anything malformed; never reads out of bounds. */
export function parsePacket(bytes: Uint8Array): ParsedPacket {
  const r = new Reader(bytes);
  const first = r.u8();
  if ((first & 0xc0) === 0x40) {
    if ((first & 0x3b) !== 0) throw new DecodeError('reserved short header bits set');
    const dcid = r.raw(CID_LENGTH);
    const pn = r.u32();
    const headerBytes = bytes.subarray(0, r.offset);
    const payload = r.rest();
    if (payload.length < TAG_LENGTH) throw new DecodeError('payload shorter than tag');
    return {
      header: { kind: 'short', keyPhase: ((first >>> 2) & 1) as 0 | 1, dcid, pn },
      headerBytes,
      payload,
    };
  }
  if ((first & 0xfc) !== 0xc0) throw new DecodeError('not a PZ packet');
  const type = first & 0x03;
  const version = r.u32();
  const dcid = readCid(r);
  const scid = readCid(r);
  if (type === LongType.VERSION) {
    if (version !== 0) throw new DecodeError('version packet with non-zero version');
    if (r.remaining % 4 !== 0 || r.remaining === 0) throw new DecodeError('bad version list');
    const versions: number[] = [];
    while (r.remaining > 0) versions.push(r.u32());
    return {
      header: { kind: 'version', dcid, scid, versions },
      headerBytes: bytes,
      payload: new Uint8Array(0),
    };
  }
  if (type === LongType.RETRY) {
    const token = r.raw(r.varint());
    if (r.remaining !== 0) throw new DecodeError('trailing bytes after retry');
    return {
      header: { kind: 'retry', version, dcid, scid, token },
      headerBytes: bytes,
      payload: new Uint8Array(0),
    };
  }
  if (type === LongType.INITIAL) {
    // The token length is read before the version check so a version negotiation can still answer.
    const token = r.raw(r.varint());
    const ephemeral = r.raw(32);
    const pn = r.u32();
    const headerBytes = bytes.subarray(0, r.offset);
    const payload = r.rest();
    if (payload.length < TAG_LENGTH) throw new DecodeError('payload shorter than tag');
    return { header: { kind: 'initial', version, dcid, scid, token, ephemeral, pn }, headerBytes, payload };
  }
  const ephemeral = r.raw(32);
  const pn = r.u32();
  const headerBytes = bytes.subarray(0, r.offset);
  const payload = r.rest();
  if (payload.length < TAG_LENGTH) throw new DecodeError('payload shorter than tag');
  return { header: { kind: 'answer', version, dcid, scid, ephemeral, pn }, headerBytes, payload };
}
