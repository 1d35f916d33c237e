import { type KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import { ReleaseVerifyError } from './errors.ts';
import { keyId } from './keys.ts';
import type { Signature } from './schema.ts';

/** The keys a verifier trusts and how many of them must have signed. */
export interface TrustedKeys {
  readonly keys: ReadonlyMap<string, KeyObject>;
  readonly threshold: number;
}

export function createTrustedKeys(publicKeys: KeyObject[], threshold = 1): TrustedKeys {
  const keys = new Map<string, KeyObject>();
  for (const key of publicKeys) {
    if (key.asymmetricKeyType !== 'ed25519')
      throw new ReleaseVerifyError('KEY_INVALID', 'trusted release keys must be ed25519');
    keys.set(keyId(key), key);
  }
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > keys.size)
    throw new ReleaseVerifyError(
      'THRESHOLD_INVALID',
      `threshold ${threshold} must be between 1 and the number of distinct trusted keys (${keys.size})`,
    );
  return { keys, threshold };
}

export interface SignedDocument<T> {
  signed: T;
  signatures: Signature[];
}

/** Signs the RFC 8785 canonical JSON of `signed` with each Ed25519 private key. */
export function signEnvelope<T>(signed: T, privateKeys: KeyObject[]): SignedDocument<T> {
  const bytes = canonicalJson(signed);
  const signatures = privateKeys.map((key) => ({
    keyid: keyId(key),
    sig: sign(null, bytes, key).toString('base64'),
  }));
  return { signed, signatures };
}

/**
 * Counts distinct trusted keys with a valid signature over `signed`; signatures by unknown keys are
 * ignored (TUF). Throws SIGNATURE_INVALID when a trusted key's signature does not verify and too few
 * remain, THRESHOLD_NOT_MET when there are simply not enough trusted signatures.
 */
export function verifyEnvelopeSignatures(
  envelope: SignedDocument<unknown>,
  trusted: TrustedKeys,
  what: string,
): void {
  const bytes = canonicalJson(envelope.signed);
  const good = new Set<string>();
  let bad = 0;
  for (const { keyid, sig } of envelope.signatures) {
    const key = trusted.keys.get(keyid);
    if (!key || good.has(keyid)) continue;
    const sigBytes = Buffer.from(sig, 'base64');
    if (sigBytes.length === 64 && verify(null, bytes, key, sigBytes)) good.add(keyid);
    else bad++;
  }
  if (good.size >= trusted.threshold) return;
  if (bad > 0)
    throw new ReleaseVerifyError(
      'SIGNATURE_INVALID',
      `${what} signature does not verify against a trusted key`,
    );
  throw new ReleaseVerifyError(
    'THRESHOLD_NOT_MET',
    `${what} has ${good.size} valid signature(s) by trusted keys; ${trusted.threshold} required`,
  );
}
