import './formats.ts';
import { Value } from '@sinclair/typebox/value';
import { type SignedDocument, type TrustedKeys, verifyEnvelopeSignatures } from './envelope.ts';
import { ReleaseVerifyError } from './errors.ts';
import { sha256Hex } from './hex.ts';
import {
  type ChannelSigned,
  type ManifestSigned,
  type SignedChannel,
  SignedChannel as SignedChannelSchema,
  type SignedManifest,
  SignedManifest as SignedManifestSchema,
} from './schema.ts';
import { compareSemver } from './semver.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

export interface ChannelCheckOptions {
  /** Current time in ms since the Unix epoch (from the injected Clock). */
  now: number;
  /** The newest channel state this verifier has accepted before; anything older is a rollback. */
  lastSeen?: { sequence: number; version: string };
  /** When given, the document must be for this product / channel (mix-and-match). */
  product?: string;
  channel?: string;
}

export interface ManifestCheckOptions {
  now: number;
  /** manifestSha256 from the verified channel pointer: the bytes must hash to it. */
  expectedSha256?: string;
  product?: string;
  version?: string;
}

function parseJson(input: Uint8Array | string | object, what: string): unknown {
  if (typeof input === 'object' && !(input instanceof Uint8Array)) return input;
  try {
    return JSON.parse(typeof input === 'string' ? input : decoder.decode(input));
  } catch {
    throw new ReleaseVerifyError('SCHEMA_INVALID', `${what} is not valid JSON`);
  }
}

function checkSchema<T>(schema: Parameters<typeof Value.Check>[0], value: unknown, what: string): T {
  if (Value.Check(schema, value)) return value as T;
  const first = Value.Errors(schema, value).First();
  const where = first ? `${first.path || '/'}: ${first.message}` : 'invalid';
  throw new ReleaseVerifyError('SCHEMA_INVALID', `${what} does not match its schema (${where})`);
}

function checkExpiry(expires: string, now: number, what: string): void {
  if (Date.parse(expires) <= now) throw new ReleaseVerifyError('EXPIRED', `${what} expired at ${expires}`);
}

/**
 * Verifies a signed channel pointer: schema, signatures (threshold), expiry, then rollback against
 * `lastSeen`. Returns the `signed` part; throws ReleaseVerifyError whose code names the failed check.
 */
export function verifyChannel(
  input: Uint8Array | string | SignedChannel,
  trusted: TrustedKeys,
  options: ChannelCheckOptions,
): ChannelSigned {
  const doc = checkSchema<SignedChannel>(
    SignedChannelSchema,
    parseJson(input, 'channel pointer'),
    'channel pointer',
  );
  verifyEnvelopeSignatures(doc as SignedDocument<unknown>, trusted, 'channel pointer');
  const c = doc.signed;
  if (options.product !== undefined && c.product !== options.product)
    throw new ReleaseVerifyError(
      'MISMATCH',
      `channel pointer is for product ${c.product}, not ${options.product}`,
    );
  if (options.channel !== undefined && c.channel !== options.channel)
    throw new ReleaseVerifyError(
      'MISMATCH',
      `channel pointer is for channel ${c.channel}, not ${options.channel}`,
    );
  checkExpiry(c.expires, options.now, 'channel pointer');
  const last = options.lastSeen;
  if (last) {
    if (c.sequence < last.sequence)
      throw new ReleaseVerifyError(
        'ROLLBACK',
        `channel sequence ${c.sequence} is older than seen ${last.sequence}`,
      );
    if (compareSemver(c.version, last.version) < 0)
      throw new ReleaseVerifyError(
        'ROLLBACK',
        `channel version ${c.version} is older than seen ${last.version}`,
      );
    if (c.sequence === last.sequence && c.version !== last.version)
      throw new ReleaseVerifyError(
        'ROLLBACK',
        `channel sequence ${c.sequence} reused for a different version`,
      );
  }
  return c;
}

/**
 * Verifies manifest bytes: hash against the channel's manifestSha256 (mix-and-match), schema and
 * internal consistency, signatures, expiry.
 */
export function verifyManifest(
  input: Uint8Array | string,
  trusted: TrustedKeys,
  options: ManifestCheckOptions,
): ManifestSigned {
  if (options.expectedSha256 !== undefined) {
    const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
    const actual = sha256Hex(bytes);
    if (actual !== options.expectedSha256)
      throw new ReleaseVerifyError('HASH_MISMATCH', `manifest sha256 ${actual} differs from the channel's`);
  }
  const doc = checkSchema<SignedManifest>(SignedManifestSchema, parseJson(input, 'manifest'), 'manifest');
  const m = doc.signed;
  const expectedPieces = Math.ceil(m.size / m.pieceLength);
  if ((m.pieceLength & (m.pieceLength - 1)) !== 0)
    throw new ReleaseVerifyError(
      'SCHEMA_INVALID',
      `manifest pieceLength ${m.pieceLength} is not a power of two`,
    );
  if (m.pieces.length !== expectedPieces)
    throw new ReleaseVerifyError(
      'SCHEMA_INVALID',
      `manifest lists ${m.pieces.length} pieces; size ${m.size} needs ${expectedPieces}`,
    );
  verifyEnvelopeSignatures(doc as SignedDocument<unknown>, trusted, 'manifest');
  if (options.product !== undefined && m.product !== options.product)
    throw new ReleaseVerifyError('MISMATCH', `manifest is for product ${m.product}, not ${options.product}`);
  if (options.version !== undefined && m.version !== options.version)
    throw new ReleaseVerifyError('MISMATCH', `manifest is for version ${m.version}, not ${options.version}`);
  checkExpiry(m.expires, options.now, 'manifest');
  return m;
}
