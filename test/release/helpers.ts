import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { generateKeyPair } from '../../release/index.ts';

export interface TestKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  privatePem: string;
  publicPem: string;
}

export function testKey(type: 'ed25519' | 'x25519' = 'ed25519'): TestKey {
  const pair = generateKeyPair(type);
  return {
    privateKey: createPrivateKey(pair.privatePem),
    publicKey: createPublicKey(pair.publicPem),
    ...pair,
  };
}

/**
 * An independent RFC 8785 serializer for the value shapes our documents use (objects, arrays, strings,
 * safe integers, booleans, null): keys sorted by UTF-16 code units, ECMAScript string escaping. It does
 * not share code with release/canonical.ts, so tests can cross-check signatures.
 */
export function independentCanonical(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error('independentCanonical: integers only');
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(independentCanonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${independentCanonical(v)}`).join(',')}}`;
}
