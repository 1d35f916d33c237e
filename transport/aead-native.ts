import { createRequire } from 'node:module';

/**
 * The optional native ChaCha20-Poly1305 from native/aead (OpenSSL's assembly, about 0.5 µs less
 * than sodium-native per 1200-byte packet on each side). Same algorithm and bytes on the wire;
 * crypto.ts uses sodium-native when this is not built or SWARMLANE_AEAD=sodium.
 */
export interface NativeAead {
  key(key: Uint8Array): unknown;
  /** Writes plaintext.length + 16 bytes to out. */
  seal(key: unknown, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void;
  open(key: unknown, nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array, out: Uint8Array): boolean;
  /** datagram = header (associated data) | ciphertext | tag; the plaintext is the first bytes of `plaintext`. */
  sealPacket(
    key: unknown,
    nonce: Uint8Array,
    datagram: Uint8Array,
    headerLength: number,
    plaintext: Uint8Array,
    plaintextLength: number,
  ): void;
  /** Plaintext length written to out, or -1 when the datagram does not authenticate. */
  openPacket(
    key: unknown,
    nonce: Uint8Array,
    datagram: Uint8Array,
    headerLength: number,
    out: Uint8Array,
  ): number;
}

export function loadNativeAead(
  path = '../native/aead/build/Release/swarmlane_aead.node',
): NativeAead | undefined {
  if (process.env.SWARMLANE_AEAD === 'sodium') return undefined;
  try {
    return createRequire(import.meta.url)(path) as NativeAead;
  } catch {
    return undefined;
  }
}
