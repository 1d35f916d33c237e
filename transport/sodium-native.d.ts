// Minimal typings for the parts of sodium-native the transport uses (the package ships none).
declare module 'sodium-native' {
  export function crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  export function crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  export function crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  export function crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  export const crypto_hash_sha256_STATEBYTES: number;
  export function crypto_hash_sha256_init(state: Uint8Array): void;
  export function crypto_hash_sha256_update(state: Uint8Array, input: Uint8Array): void;
  export function crypto_hash_sha256_final(state: Uint8Array, out: Uint8Array): void;
  const sodium: {
    crypto_hash_sha256_STATEBYTES: number;
    crypto_hash_sha256_init: typeof crypto_hash_sha256_init;
    crypto_hash_sha256_update: typeof crypto_hash_sha256_update;
    crypto_hash_sha256_final: typeof crypto_hash_sha256_final;
    crypto_scalarmult: typeof crypto_scalarmult;
    crypto_scalarmult_base: typeof crypto_scalarmult_base;
    crypto_aead_chacha20poly1305_ietf_encrypt: typeof crypto_aead_chacha20poly1305_ietf_encrypt;
    crypto_aead_chacha20poly1305_ietf_decrypt: typeof crypto_aead_chacha20poly1305_ietf_decrypt;
  };
  export default sodium;
}
