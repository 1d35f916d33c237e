import type { Address } from '../runtime/index.ts';
import { open, type PacketKey, packetKeyFromSecret, seal } from './crypto.ts';

/**
 * Stateless retry tokens: when too many handshakes are half open, the server answers an INITIAL with
 * a RETRY carrying a token and keeps no state. The token is sealed with a key only this endpoint
 * knows, binds the client's address and original connection ID, and expires.
 *
 *   token = nonce (12) || AEAD_k(expiry ms, u64 BE) with associated data "host:port" || dcid
 */
export interface RetryTokens {
  issue(address: Address, dcid: Uint8Array, now: number, nonce: Uint8Array): Uint8Array;
  validate(token: Uint8Array, address: Address, dcid: Uint8Array, now: number): boolean;
}

const encoder = new TextEncoder();

function associatedData(address: Address, dcid: Uint8Array): Uint8Array {
  const text = encoder.encode(`${address.host}:${address.port}`);
  const out = new Uint8Array(text.length + dcid.length);
  out.set(text);
  out.set(dcid, text.length);
  return out;
}

export function createRetryTokens(secret: Uint8Array, lifetimeMs = 10_000): RetryTokens {
  const key: PacketKey = packetKeyFromSecret(secret);
  return {
    issue(address, dcid, now, nonce) {
      const plain = new Uint8Array(8);
      new DataView(plain.buffer).setFloat64(0, now + lifetimeMs);
      const keyWithNonce: PacketKey = { ...key, iv: nonce, nonce: new Uint8Array(12) };
      const out = new Uint8Array(12 + 8 + 16);
      out.set(nonce);
      seal(keyWithNonce, 0, associatedData(address, dcid), plain, out.subarray(12));
      return out;
    },
    validate(token, address, dcid, now) {
      if (token.length !== 36) return false;
      const keyWithNonce: PacketKey = { ...key, iv: token.slice(0, 12), nonce: new Uint8Array(12) };
      const plain = open(keyWithNonce, 0, associatedData(address, dcid), token.subarray(12));
      if (!plain) return false;
      const expiry = new DataView(plain.buffer, plain.byteOffset, 8).getFloat64(0);
      return now <= expiry;
    },
  };
}
