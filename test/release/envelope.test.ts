import { createHash, createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CHANNEL_SCHEMA_ID,
  type ChannelSigned,
  createTrustedKeys,
  ReleaseVerifyError,
  signEnvelope,
  verifyChannel,
} from '../../release/index.ts';
import { independentCanonical, testKey } from './helpers.ts';

const channel: ChannelSigned = {
  schema: CHANNEL_SCHEMA_ID,
  product: 'camera',
  channel: 'stable',
  version: '1.2.3',
  manifest: 'releases/camera/1.2.3/manifest.json',
  manifestSha256: 'ab'.repeat(32),
  sequence: 7,
  expires: '2030-01-01T00:00:00.000Z',
};
const now = Date.parse('2029-01-01T00:00:00Z');

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ReleaseVerifyError);
    return (error as ReleaseVerifyError).code;
  }
  throw new Error('expected a verification failure');
}

describe('signed envelope', () => {
  it('an independent verifier (node:crypto over canonical JSON, keyid = sha256(raw)) accepts it', () => {
    const key = testKey();
    const envelope = signEnvelope(channel, [key.privateKey]);
    const sig = envelope.signatures[0]!;
    const raw = Buffer.from(createPublicKey(key.publicPem).export({ format: 'jwk' }).x!, 'base64url');
    expect(sig.keyid).toBe(createHash('sha256').update(raw).digest('hex'));
    const message = Buffer.from(independentCanonical(envelope.signed), 'utf8');
    expect(verify(null, message, key.publicKey, Buffer.from(sig.sig, 'base64'))).toBe(true);
  });

  it('a threshold of 2 needs two distinct trusted signers', () => {
    const [a, b, c] = [testKey(), testKey(), testKey()];
    const trusted = createTrustedKeys([a.publicKey, b.publicKey, c.publicKey], 2);
    expect(verifyChannel(signEnvelope(channel, [a.privateKey, c.privateKey]), trusted, { now })).toEqual(
      channel,
    );
    expect(failure(() => verifyChannel(signEnvelope(channel, [a.privateKey]), trusted, { now }))).toBe(
      'THRESHOLD_NOT_MET',
    );
    // The same key twice counts once.
    const twice = signEnvelope(channel, [a.privateKey, a.privateKey]);
    expect(failure(() => verifyChannel(twice, trusted, { now }))).toBe('THRESHOLD_NOT_MET');
    // Signatures by untrusted keys are ignored, not counted.
    const stranger = signEnvelope(channel, [a.privateKey, testKey().privateKey]);
    expect(failure(() => verifyChannel(stranger, trusted, { now }))).toBe('THRESHOLD_NOT_MET');
  });

  it('a changed field or a forged signature fails SIGNATURE_INVALID', () => {
    const key = testKey();
    const trusted = createTrustedKeys([key.publicKey], 1);
    const envelope = signEnvelope(channel, [key.privateKey]);
    const tampered = { ...envelope, signed: { ...envelope.signed, sequence: 8 } };
    expect(failure(() => verifyChannel(tampered, trusted, { now }))).toBe('SIGNATURE_INVALID');
    const forged = {
      ...envelope,
      signatures: [{ keyid: envelope.signatures[0]!.keyid, sig: Buffer.alloc(64, 1).toString('base64') }],
    };
    expect(failure(() => verifyChannel(forged, trusted, { now }))).toBe('SIGNATURE_INVALID');
  });

  it('refuses an impossible threshold and non-Ed25519 trusted keys', () => {
    const key = testKey();
    expect(() => createTrustedKeys([key.publicKey], 2)).toThrow(/threshold/);
    expect(() => createTrustedKeys([key.publicKey, key.publicKey], 2)).toThrow(/threshold/);
    expect(() => createTrustedKeys([testKey('x25519').publicKey], 1)).toThrow(/ed25519/);
  });
});
