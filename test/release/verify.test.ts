import { describe, expect, it } from 'vitest';
import {
  CHANNEL_SCHEMA_ID,
  type ChannelSigned,
  createTrustedKeys,
  hashPieces,
  MANIFEST_SCHEMA_ID,
  type ManifestSigned,
  ReleaseVerifyError,
  sha256Hex,
  signEnvelope,
  verifyChannel,
  verifyManifest,
} from '../../release/index.ts';
import { testKey } from './helpers.ts';

const key = testKey();
const trusted = createTrustedKeys([key.publicKey], 1);
const now = Date.parse('2029-06-01T00:00:00Z');
const enc = (doc: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(doc));

const data = new Uint8Array(40_000).map((_, i) => (i * 7) & 0xff);
const digests = hashPieces(data, 16384);
const manifest: ManifestSigned = {
  schema: MANIFEST_SCHEMA_ID,
  product: 'camera',
  version: '2.0.0',
  channel: 'stable',
  file: 'fw.bin',
  size: data.length,
  sha256: digests.sha256,
  pieceLength: 16384,
  pieces: digests.pieces,
  infoHash: 'cd'.repeat(20),
  object: 'releases/camera/2.0.0/fw.bin',
  torrent: 'releases/camera/2.0.0/release.torrent',
  created: '2029-01-01T00:00:00.000Z',
  expires: '2030-01-01T00:00:00.000Z',
};
const manifestBytes = enc(signEnvelope(manifest, [key.privateKey]));
const channel: ChannelSigned = {
  schema: CHANNEL_SCHEMA_ID,
  product: 'camera',
  channel: 'stable',
  version: '2.0.0',
  manifest: 'releases/camera/2.0.0/manifest.json',
  manifestSha256: sha256Hex(manifestBytes),
  sequence: 5,
  expires: '2029-07-01T00:00:00.000Z',
};
const channelBytes = enc(signEnvelope(channel, [key.privateKey]));

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ReleaseVerifyError);
    return (error as ReleaseVerifyError).code;
  }
  throw new Error('expected a verification failure');
}

describe('verifyChannel', () => {
  it('accepts a valid pointer and returns its signed part', () => {
    expect(
      verifyChannel(channelBytes, trusted, { now, lastSeen: { sequence: 4, version: '1.9.0' } }),
    ).toEqual(channel);
  });

  it('names each failed check', () => {
    expect(
      failure(() => verifyChannel(channelBytes, trusted, { now: Date.parse('2029-07-01T00:00:00Z') })),
    ).toBe('EXPIRED');
    expect(
      failure(() =>
        verifyChannel(channelBytes, trusted, { now, lastSeen: { sequence: 6, version: '1.0.0' } }),
      ),
    ).toBe('ROLLBACK');
    expect(
      failure(() =>
        verifyChannel(channelBytes, trusted, { now, lastSeen: { sequence: 1, version: '2.1.0' } }),
      ),
    ).toBe('ROLLBACK');
    expect(
      failure(() =>
        verifyChannel(channelBytes, trusted, { now, lastSeen: { sequence: 5, version: '1.0.0' } }),
      ),
    ).toBe('ROLLBACK');
    expect(failure(() => verifyChannel(new TextEncoder().encode('{not json'), trusted, { now }))).toBe(
      'SCHEMA_INVALID',
    );
    const extra = signEnvelope({ ...channel, extra: 1 }, [key.privateKey]);
    expect(failure(() => verifyChannel(enc(extra), trusted, { now }))).toBe('SCHEMA_INVALID');
    const badSemver = signEnvelope({ ...channel, version: 'v2' }, [key.privateKey]);
    expect(failure(() => verifyChannel(enc(badSemver), trusted, { now }))).toBe('SCHEMA_INVALID');
    expect(failure(() => verifyChannel(channelBytes, trusted, { now, channel: 'beta' }))).toBe('MISMATCH');
    const other = createTrustedKeys([testKey().publicKey], 1);
    expect(failure(() => verifyChannel(channelBytes, other, { now }))).toBe('THRESHOLD_NOT_MET');
  });

  it('accepts the same state seen again (a re-check is not a rollback)', () => {
    expect(
      verifyChannel(channelBytes, trusted, { now, lastSeen: { sequence: 5, version: '2.0.0' } }).sequence,
    ).toBe(5);
  });
});

describe('verifyManifest', () => {
  it('accepts bytes pinned by the channel pointer', () => {
    expect(verifyManifest(manifestBytes, trusted, { now, expectedSha256: channel.manifestSha256 })).toEqual(
      manifest,
    );
  });

  it('refuses a manifest whose bytes differ from the pinned hash (mix-and-match)', () => {
    const reformatted = new TextEncoder().encode(
      JSON.stringify(JSON.parse(new TextDecoder().decode(manifestBytes)), null, 1),
    );
    expect(
      failure(() => verifyManifest(reformatted, trusted, { now, expectedSha256: channel.manifestSha256 })),
    ).toBe('HASH_MISMATCH');
  });

  it('refuses a tampered, inconsistent or expired manifest', () => {
    const doc = JSON.parse(new TextDecoder().decode(manifestBytes));
    doc.signed.size += 1;
    expect(failure(() => verifyManifest(enc(doc), trusted, { now }))).toBe('SIGNATURE_INVALID');
    const shortPieces = signEnvelope({ ...manifest, pieces: manifest.pieces.slice(1) }, [key.privateKey]);
    expect(failure(() => verifyManifest(enc(shortPieces), trusted, { now }))).toBe('SCHEMA_INVALID');
    const oddPiece = signEnvelope({ ...manifest, pieceLength: 20000, pieces: manifest.pieces.slice(0, 2) }, [
      key.privateKey,
    ]);
    expect(failure(() => verifyManifest(enc(oddPiece), trusted, { now }))).toBe('SCHEMA_INVALID');
    expect(
      failure(() => verifyManifest(manifestBytes, trusted, { now: Date.parse('2031-01-01T00:00:00Z') })),
    ).toBe('EXPIRED');
    expect(failure(() => verifyManifest(manifestBytes, trusted, { now, version: '2.0.1' }))).toBe('MISMATCH');
  });
});
