/**
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in plain TypeScript, for the handshake's key
 * schedule. Its inputs are a few dozen bytes, where a native call per init/update/final costs more
 * than the hashing: about ten HKDF derivations per handshake side took 3-4 % of a lab run's CPU over
 * sodium. HMAC keeps the state after the key block, so every derivation with the same key (HKDF's
 * expand, the all-zero extract salt) hashes only its own bytes.
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

const INITIAL = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

const W = new Uint32Array(64);

/** Mixes one 64-byte block at `offset` into the eight-word state `h`. */
function compress(h: Uint32Array, block: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4;
    W[i] = (block[j]! << 24) | (block[j + 1]! << 16) | (block[j + 2]! << 8) | block[j + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!;
    const w2 = W[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  let f = h[5]!;
  let g = h[6]!;
  let hh = h[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (hh + S1 + ch + K[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
  h[5] = (h[5]! + f) | 0;
  h[6] = (h[6]! + g) | 0;
  h[7] = (h[7]! + hh) | 0;
}

/** An incremental SHA-256; HMAC restarts one from a key's saved state instead of allocating. */
export class Sha256 {
  private readonly h = new Uint32Array(8);
  private readonly buffer = new Uint8Array(64);
  private buffered = 0;
  private length = 0;

  constructor() {
    this.h.set(INITIAL);
  }

  /** Continues from a state saved after whole blocks (`length` bytes hashed so far). */
  restart(state: Uint32Array, length: number): this {
    this.h.set(state);
    this.buffered = 0;
    this.length = length;
    return this;
  }

  /** The chaining state (valid as a restart point when a whole number of blocks was hashed). */
  get state(): Uint32Array {
    return this.h;
  }

  update(data: Uint8Array): this {
    this.length += data.length;
    let i = 0;
    if (this.buffered > 0) {
      const take = Math.min(64 - this.buffered, data.length);
      this.buffer.set(data.subarray(0, take), this.buffered);
      this.buffered += take;
      i = take;
      if (this.buffered < 64) return this;
      compress(this.h, this.buffer, 0);
      this.buffered = 0;
    }
    for (; i + 64 <= data.length; i += 64) compress(this.h, data, i);
    if (i < data.length) {
      this.buffer.set(i === 0 ? data : data.subarray(i), 0);
      this.buffered = data.length - i;
    }
    return this;
  }

  /** Finishes this hash into `out` (32 bytes; a fresh array by default). Restart before reuse. */
  digest(out: Uint8Array = new Uint8Array(32)): Uint8Array {
    const bits = this.length * 8;
    const b = this.buffer;
    b[this.buffered++] = 0x80;
    if (this.buffered > 56) {
      b.fill(0, this.buffered);
      compress(this.h, b, 0);
      this.buffered = 0;
    }
    b.fill(0, this.buffered, 56);
    const high = Math.floor(bits / 0x100000000);
    b[56] = high >>> 24;
    b[57] = high >>> 16;
    b[58] = high >>> 8;
    b[59] = high;
    b[60] = bits >>> 24;
    b[61] = bits >>> 16;
    b[62] = bits >>> 8;
    b[63] = bits;
    compress(this.h, b, 0);
    for (let i = 0; i < 8; i++) {
      const w = this.h[i]!;
      out[i * 4] = w >>> 24;
      out[i * 4 + 1] = w >>> 16;
      out[i * 4 + 2] = w >>> 8;
      out[i * 4 + 3] = w;
    }
    return out;
  }
}

const BLOCK = 64;
/** Scratch for HMAC (single-threaded, never re-entered): no allocation per MAC but its result. */
const scratch = new Sha256();
const innerDigest = new Uint8Array(32);
const pad = new Uint8Array(BLOCK);

/** HMAC-SHA256 with a fixed key: the inner and outer key blocks are hashed once. */
export class HmacSha256Key {
  private readonly inner = new Uint32Array(8);
  private readonly outer = new Uint32Array(8);

  constructor(key: Uint8Array) {
    const k = key.length > BLOCK ? new Sha256().update(key).digest() : key;
    pad.fill(0x36);
    for (let i = 0; i < k.length; i++) pad[i] = k[i]! ^ 0x36;
    this.inner.set(scratch.restart(INITIAL, 0).update(pad).state);
    pad.fill(0x5c);
    for (let i = 0; i < k.length; i++) pad[i] = k[i]! ^ 0x5c;
    this.outer.set(scratch.restart(INITIAL, 0).update(pad).state);
  }

  /** HMAC of the concatenation of `parts`. */
  mac(...parts: Uint8Array[]): Uint8Array {
    scratch.restart(this.inner, BLOCK);
    for (const part of parts) scratch.update(part);
    scratch.digest(innerDigest);
    return scratch.restart(this.outer, BLOCK).update(innerDigest).digest();
  }
}
