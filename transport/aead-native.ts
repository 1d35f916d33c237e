import { createRequire } from 'node:module';

/**
 * The optional native ChaCha20-Poly1305 from native/aead (OpenSSL's assembly, about 0.5 µs less
 * than sodium-native per 1200-byte packet on each side). Same algorithm and bytes on the wire;
 * crypto.ts uses sodium-native when this is not built or SWARMLANE_AEAD=sodium.
 */
export interface NativeAead {
  key(key: Uint8Array): unknown;
  seal(key: unknown, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): number;
  open(key: unknown, nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array, out: Uint8Array): boolean;
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
