import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KeyError } from './errors.ts';

/** Ed25519 signs releases; X25519 keys are the static transport keys of edges and trackers. */
export type KeyType = 'ed25519' | 'x25519';

export interface PemKeyPair {
  /** PKCS#8 PEM; write it with mode 0600. */
  privatePem: string;
  /** SPKI PEM. */
  publicPem: string;
}

export function generateKeyPair(type: KeyType = 'ed25519'): PemKeyPair {
  // Two literal calls so TypeScript picks the right overload for each key type.
  const pair =
    type === 'ed25519'
      ? generateKeyPairSync('ed25519', {
          publicKeyEncoding: { type: 'spki', format: 'pem' },
          privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        })
      : generateKeyPairSync('x25519', {
          publicKeyEncoding: { type: 'spki', format: 'pem' },
          privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        });
  return { privatePem: pair.privateKey, publicPem: pair.publicKey };
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'read error';
    throw new KeyError('KEY_UNREADABLE', `cannot read key file ${path} (${reason})`, { cause: error });
  }
}

/** Reads a PKCS#8 PEM private key. `expectType` refuses a key of the other kind. */
export function loadPrivateKey(path: string, expectType?: KeyType): KeyObject {
  const pem = readKeyFile(path);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new KeyError('KEY_INVALID', `${path} is not a PEM private key`, { cause: error });
  }
  checkType(key, path, expectType);
  return key;
}

/** Reads an SPKI PEM public key (a private key file is accepted and its public half returned). */
export function loadPublicKey(path: string, expectType?: KeyType): KeyObject {
  const pem = readKeyFile(path);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new KeyError('KEY_INVALID', `${path} is not a PEM public key`, { cause: error });
  }
  checkType(key, path, expectType);
  return key;
}

function checkType(key: KeyObject, path: string, expectType: KeyType | undefined): void {
  const actual = key.asymmetricKeyType;
  if (actual !== 'ed25519' && actual !== 'x25519')
    throw new KeyError(
      'KEY_INVALID',
      `${path} holds a ${actual ?? 'unknown'} key; expected ed25519 or x25519`,
    );
  if (expectType && actual !== expectType)
    throw new KeyError('KEY_INVALID', `${path} holds an ${actual} key; expected ${expectType}`);
}

/** The raw 32-byte public key (works for a private KeyObject too). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new KeyError('KEY_INVALID', 'key has no raw public part');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

/** The raw 32-byte X25519 private scalar: the transport's static key format. */
export function rawX25519PrivateKey(key: KeyObject): Uint8Array {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'x25519')
    throw new KeyError('KEY_INVALID', 'expected an x25519 private key');
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string') throw new KeyError('KEY_INVALID', 'key has no private part');
  return new Uint8Array(Buffer.from(jwk.d, 'base64url'));
}

/** Builds a public KeyObject from 32 raw bytes (e.g. a transport key delivered by the tracker). */
export function publicKeyFromRaw(raw: Uint8Array, type: KeyType): KeyObject {
  if (raw.length !== 32) throw new KeyError('KEY_INVALID', `raw ${type} public key must be 32 bytes`);
  return createPublicKey({
    key: {
      kty: 'OKP',
      crv: type === 'ed25519' ? 'Ed25519' : 'X25519',
      x: Buffer.from(raw).toString('base64url'),
    },
    format: 'jwk',
  });
}

/** keyid: hex SHA-256 of the raw 32-byte public key. */
export function keyId(key: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(key)).digest('hex');
}
