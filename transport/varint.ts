import { DecodeError } from './errors.ts';

/**
 * QUIC variable-length integers (RFC 9000 §16): the two top bits of the first byte give the length.
 *
 *   00xxxxxx                         1 byte,  6 bits
 *   01xxxxxx xxxxxxxx                2 bytes, 14 bits
 *   10xxxxxx + 3 bytes               4 bytes, 30 bits
 *   11xxxxxx + 7 bytes               8 bytes, 62 bits (we stop at 2^53 - 1, JavaScript's safe range)
 */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER;

export function varintLength(value: number): number {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x4000_0000) return 4;
  return 8;
}

/** Sequential writer over a fixed buffer. Writes past the end throw RangeError (a bug, never input). */
export class Writer {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  u8(value: number): void {
    if (this.offset >= this.bytes.length) throw new RangeError('writer overflow');
    this.bytes[this.offset++] = value & 0xff;
  }

  u32(value: number): void {
    if (this.offset + 4 > this.bytes.length) throw new RangeError('writer overflow');
    const b = this.bytes;
    const o = this.offset;
    b[o] = (value >>> 24) & 0xff;
    b[o + 1] = (value >>> 16) & 0xff;
    b[o + 2] = (value >>> 8) & 0xff;
    b[o + 3] = value & 0xff;
    this.offset += 4;
  }

  varint(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > MAX_VARINT)
      throw new RangeError(`bad varint ${value}`);
    const b = this.bytes;
    const o = this.offset;
    if (value < 0x40) {
      this.u8(value);
    } else if (value < 0x4000) {
      if (o + 2 > b.length) throw new RangeError('writer overflow');
      b[o] = 0x40 | (value >>> 8);
      b[o + 1] = value & 0xff;
      this.offset += 2;
    } else if (value < 0x4000_0000) {
      this.u32((0x8000_0000 | value) >>> 0);
    } else {
      const high = Math.floor(value / 0x1_0000_0000);
      this.u32((0xc000_0000 | high) >>> 0);
      this.u32(value >>> 0);
    }
  }

  raw(data: Uint8Array): void {
    if (this.offset + data.length > this.bytes.length) throw new RangeError('writer overflow');
    this.bytes.set(data, this.offset);
    this.offset += data.length;
  }
}

/** Sequential reader; every read past the end or of a malformed value throws DecodeError. */
export class Reader {
  offset = 0;
  constructor(public bytes: Uint8Array) {}

  /** Starts over on `bytes` (one reader serves every packet of a session). */
  reset(bytes: Uint8Array): this {
    this.bytes = bytes;
    this.offset = 0;
    return this;
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  u8(): number {
    if (this.offset >= this.bytes.length) throw new DecodeError('truncated');
    return this.bytes[this.offset++]!;
  }

  u32(): number {
    if (this.offset + 4 > this.bytes.length) throw new DecodeError('truncated');
    const b = this.bytes;
    const o = this.offset;
    this.offset += 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  varint(): number {
    const first = this.u8();
    const prefix = first >>> 6;
    if (prefix === 0) return first;
    if (prefix === 1) return ((first & 0x3f) << 8) | this.u8();
    if (prefix === 2) {
      this.offset--;
      return (this.u32() & 0x3fff_ffff) >>> 0;
    }
    this.offset--;
    const high = this.u32() & 0x3fff_ffff;
    const low = this.u32();
    const value = high * 0x1_0000_0000 + low;
    if (value > MAX_VARINT) throw new DecodeError('varint beyond 2^53');
    return value;
  }

  /** A view (not a copy) of the next `length` bytes. */
  raw(length: number): Uint8Array {
    if (length < 0 || this.offset + length > this.bytes.length) throw new DecodeError('truncated');
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  rest(): Uint8Array {
    return this.raw(this.remaining);
  }
}
