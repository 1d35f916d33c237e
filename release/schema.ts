import { type Static, Type } from '@sinclair/typebox';

/**
 * Wire schemas of the signed release documents (DESIGN.md "Release format"). Shared by the publisher,
 * the verifier, the tracker's routes and the agent, so there is one definition of each document.
 */

export const MANIFEST_SCHEMA_ID = 'swarmlane.manifest/1';
export const CHANNEL_SCHEMA_ID = 'swarmlane.channel/1';

const Hex = (bytes: number) => Type.String({ pattern: `^[0-9a-f]{${bytes * 2}}$` });
const IsoDate = Type.String({ format: 'date-time', minLength: 20 });
const StoreKey = Type.String({ minLength: 1, maxLength: 1024 });
/** Product and channel names become store key segments, so they are restricted to safe characters. */
export const NameSegment = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' });
/** Semantic Versioning 2.0.0. */
export const SemverString = Type.String({
  pattern:
    '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$',
});

export const ManifestSigned = Type.Object(
  {
    schema: Type.Literal(MANIFEST_SCHEMA_ID),
    product: NameSegment,
    version: SemverString,
    channel: NameSegment,
    file: Type.String({ minLength: 1, maxLength: 255 }),
    size: Type.Integer({ minimum: 1 }),
    sha256: Hex(32),
    pieceLength: Type.Integer({ minimum: 16384, maximum: 16777216 }),
    pieces: Type.Array(Hex(32), { minItems: 1 }),
    infoHash: Hex(20),
    object: StoreKey,
    torrent: StoreKey,
    created: IsoDate,
    expires: IsoDate,
  },
  { additionalProperties: false },
);
export type ManifestSigned = Static<typeof ManifestSigned>;

export const ChannelSigned = Type.Object(
  {
    schema: Type.Literal(CHANNEL_SCHEMA_ID),
    product: NameSegment,
    channel: NameSegment,
    version: SemverString,
    manifest: StoreKey,
    manifestSha256: Hex(32),
    sequence: Type.Integer({ minimum: 1 }),
    expires: IsoDate,
  },
  { additionalProperties: false },
);
export type ChannelSigned = Static<typeof ChannelSigned>;

export const Signature = Type.Object(
  { keyid: Hex(32), sig: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export type Signature = Static<typeof Signature>;

/** TUF-like envelope: `sig` is Ed25519 (base64) over the RFC 8785 canonical JSON of `signed`. */
export const Envelope = <T extends ReturnType<typeof Type.Object>>(signed: T) =>
  Type.Object(
    { signed, signatures: Type.Array(Signature, { minItems: 1 }) },
    { additionalProperties: false },
  );

export const SignedManifest = Envelope(ManifestSigned);
export type SignedManifest = Static<typeof SignedManifest>;
export const SignedChannel = Envelope(ChannelSigned);
export type SignedChannel = Static<typeof SignedChannel>;

/** Store keys of the documented layout, relative to the store URL. */
export const storeKeys = {
  releaseDir: (product: string, version: string) => `releases/${product}/${version}`,
  object: (product: string, version: string, file: string) => `releases/${product}/${version}/${file}`,
  manifest: (product: string, version: string) => `releases/${product}/${version}/manifest.json`,
  torrent: (product: string, version: string) => `releases/${product}/${version}/release.torrent`,
  channel: (product: string, channel: string) => `channels/${product}/${channel}.json`,
};

/** Release id used across the tracker and agent APIs: `<product>@<version>`. */
export function releaseId(product: string, version: string): string {
  return `${product}@${version}`;
}
