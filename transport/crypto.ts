import sodium from 'sodium-native';
import { loadNativeAead, type NativeAead } from './aead-native.ts';
import { TAG_LENGTH } from './packet.ts';
import { HmacSha256Key, Sha256 } from './sha256.ts';

/**
 * Cryptographic primitives of the PZ protocol: X25519 (sodium crypto_scalarmult), HKDF-SHA256
 * (RFC 5869 over sha256.ts, handshake and key updates) and ChaCha20-Poly1305 IETF (sodium,
 * every packet).
 */
export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** Derives an X25519 key pair from 32 bytes of randomness (from the injected Random, so the lab replays). */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== 32) throw new RangeError('X25519 seed must be 32 bytes');
  const privateKey = new Uint8Array(seed);
  const publicKey = new Uint8Array(32);
  sodium.crypto_scalarmult_base(publicKey, privateKey);
  return { privateKey, publicKey };
}

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return keyPairFromSeed(privateKey).publicKey;
}

/** X25519; returns undefined for a low-order peer key (all-zero shared secret). */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  if (publicKey.length !== 32) return undefined;
  const out = new Uint8Array(32);
  try {
    sodium.crypto_scalarmult(out, privateKey, publicKey);
  } catch {
    return undefined;
  }
  let acc = 0;
  for (const b of out) acc |= b;
  return acc === 0 ? undefined : out;
}

/** SHA-256 over the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = new Sha256();
  for (const part of parts) hash.update(part);
  return hash.digest();
}

const encoder = new TextEncoder();
/** HKDF's default salt (32 zero bytes) as a ready HMAC key: most derivations use it. */
const ZERO_SALT = new HmacSha256Key(new Uint8Array(32));
const infoCache = new Map<string, Uint8Array>();

/**
 * HKDF-SHA256 (RFC 5869): extract with `salt` (empty = 32 zero bytes), expand with `info`. Written
 * over a plain-TypeScript SHA-256 (sha256.ts) because node:crypto's hkdfSync costs tens of
 * microseconds per call, and sodium's per-call overhead dominates inputs this small: about ten
 * derivations per handshake side.
 */
export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Uint8Array {
  return hkdfExpand(hkdfExtract(ikm, salt), info, length);
}

/** HKDF's extract step: the pseudorandom key, ready for any number of expansions. */
export function hkdfExtract(ikm: Uint8Array, salt: Uint8Array): HmacSha256Key {
  const extract = salt.length > 0 ? new HmacSha256Key(salt) : ZERO_SALT;
  return new HmacSha256Key(extract.mac(ikm));
}

/** HKDF's expand step over a key from {@link hkdfExtract}. */
export function hkdfExpand(prk: HmacSha256Key, info: string, length: number): Uint8Array {
  if (length > 255 * 32) throw new RangeError('HKDF output too long');
  let infoBytes = infoCache.get(info);
  if (infoBytes === undefined) {
    infoBytes = encoder.encode(info);
    // The protocol's labels are a handful of constants; other callers' strings are not kept.
    if (infoCache.size < 64) infoCache.set(info, infoBytes);
  }
  const out = new Uint8Array(length);
  let previous: Uint8Array = new Uint8Array(0);
  for (let offset = 0, counter = 1; offset < length; counter++) {
    previous = prk.mac(previous, infoBytes, Uint8Array.of(counter));
    out.set(previous.subarray(0, Math.min(32, length - offset)), offset);
    offset += 32;
  }
  return out;
}

/** One direction's packet protection key: AEAD key plus IV (nonce = IV xor packet number). */
export interface PacketKey {
  readonly secret: Uint8Array;
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
  /** Scratch nonce, reused to avoid an allocation per packet. */
  readonly nonce: Uint8Array;
  /** The native AEAD's keyed handle for `key`, made on first use (copies of the key share it). */
  aead?: unknown;
}

let nativeAead: NativeAead | undefined = loadNativeAead();

/** Which ChaCha20-Poly1305 implementation seals and opens packets (both give the same bytes). */
export function aeadBackend(): 'native' | 'sodium' {
  return nativeAead ? 'native' : 'sodium';
}

/** Tests: run the sodium path even when the native addon is built. Returns the previous backend. */
export function useAeadBackend(backend: 'native' | 'sodium'): 'native' | 'sodium' {
  const previous = aeadBackend();
  nativeAead = backend === 'native' ? loadNativeAead() : undefined;
  return previous;
}

const EMPTY = new Uint8Array(0);

export function packetKeyFromSecret(secret: Uint8Array): PacketKey {
  // Both derivations share the extract step (same secret, empty salt).
  const prk = hkdfExtract(secret, EMPTY);
  return {
    secret,
    key: hkdfExpand(prk, 'pz key', 32),
    iv: hkdfExpand(prk, 'pz iv', 12),
    nonce: new Uint8Array(12),
    aead: undefined,
  };
}

/** Key update: the next generation's secret is derived one-way from the current one. */
export function nextPacketKey(current: PacketKey): PacketKey {
  return packetKeyFromSecret(hkdf(current.secret, EMPTY, 'pz key update', 32));
}

function fillNonce(k: PacketKey, pn: number): Uint8Array {
  const n = k.nonce;
  n.set(k.iv);
  n[8] = k.iv[8]! ^ ((pn >>> 24) & 0xff);
  n[9] = k.iv[9]! ^ ((pn >>> 16) & 0xff);
  n[10] = k.iv[10]! ^ ((pn >>> 8) & 0xff);
  n[11] = k.iv[11]! ^ (pn & 0xff);
  return n;
}

/** Encrypts `plaintext` into `out` (which must have room for plaintext + 16); returns bytes written. */
export function seal(
  k: PacketKey,
  pn: number,
  header: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
): number {
  if (nativeAead) {
    k.aead ??= nativeAead.key(k.key);
    nativeAead.seal(k.aead, fillNonce(k, pn), header, plaintext, out);
    return plaintext.length + TAG_LENGTH;
  }
  const target =
    out.length === plaintext.length + TAG_LENGTH ? out : out.subarray(0, plaintext.length + TAG_LENGTH);
  return sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
    target,
    plaintext,
    header,
    null,
    fillNonce(k, pn),
    k.key,
  );
}

/** Decrypts; returns the plaintext, or undefined when authentication fails. */
export function open(
  k: PacketKey,
  pn: number,
  header: Uint8Array,
  ciphertext: Uint8Array,
  scratch?: Uint8Array,
): Uint8Array | undefined {
  if (ciphertext.length < TAG_LENGTH) return undefined;
  const length = ciphertext.length - TAG_LENGTH;
  // A caller-owned scratch buffer saves an allocation per packet; the result is a view into it.
  const out = scratch && scratch.length >= length ? scratch.subarray(0, length) : new Uint8Array(length);
  if (nativeAead) {
    k.aead ??= nativeAead.key(k.key);
    return nativeAead.open(k.aead, fillNonce(k, pn), header, ciphertext, out) ? out : undefined;
  }
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, ciphertext, header, fillNonce(k, pn), k.key);
  } catch {
    return undefined;
  }
  return out;
}

/**
 * The packet path: `datagram` holds the header in [0, headerLength) (the associated data); the first
 * `plaintextLength` bytes of `plaintext` are sealed right after it, then the tag.
 */
export function sealPacket(
  k: PacketKey,
  pn: number,
  datagram: Uint8Array,
  headerLength: number,
  plaintext: Uint8Array,
  plaintextLength: number,
): void {
  if (nativeAead) {
    k.aead ??= nativeAead.key(k.key);
    nativeAead.sealPacket(k.aead, fillNonce(k, pn), datagram, headerLength, plaintext, plaintextLength);
    return;
  }
  seal(
    k,
    pn,
    datagram.subarray(0, headerLength),
    plaintext.subarray(0, plaintextLength),
    datagram.subarray(headerLength),
  );
}

/** Opens datagram[headerLength..] with the header as associated data; the plaintext is a view of `scratch`. */
export function openPacket(
  k: PacketKey,
  pn: number,
  datagram: Uint8Array,
  headerLength: number,
  scratch: Uint8Array,
): Uint8Array | undefined {
  if (nativeAead) {
    k.aead ??= nativeAead.key(k.key);
    const sealed = datagram.length - headerLength;
    // Larger than any packet we send, but open it like sodium would rather than call it forged.
    const out = sealed - TAG_LENGTH > scratch.length ? new Uint8Array(sealed - TAG_LENGTH) : scratch;
    const length = nativeAead.openPacket(k.aead, fillNonce(k, pn), datagram, headerLength, out);
    return length < 0 ? undefined : out.subarray(0, length);
  }
  return open(k, pn, datagram.subarray(0, headerLength), datagram.subarray(headerLength), scratch);
}
