import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  CHANNEL_SCHEMA_ID,
  type ChannelSigned,
  compareSemver,
  createTorrent,
  createTrustedKeys,
  keyId,
  MANIFEST_SCHEMA_ID,
  type ManifestSigned,
  type ObjectStore,
  type PieceDigests,
  PieceHasher,
  parseTorrent,
  ReleaseVerifyError,
  type SignedChannel,
  type SignedManifest,
  StoreError,
  sha256Hex,
  signEnvelope,
  storeKeys,
  type TrustedKeys,
  verifyChannel,
  verifyManifest,
} from '../release/index.ts';
import type { Clock, Logger } from '../runtime/index.ts';
import { PublishError } from './errors.ts';
import { type PublishRequest, type ResolvedPublishRequest, resolvePublishRequest } from './options.ts';
import { assertUnchanged, hashFile, hashingBody, openReleaseFile, type ReleaseFile } from './source.ts';

const DAY_MS = 86_400_000;
const encoder = new TextEncoder();

export interface PublisherComponents {
  store: ObjectStore;
  /** Ed25519 private key(s) that sign the manifest and channel pointer. */
  signingKeys: KeyObject[];
  clock: Clock;
  logger: Logger;
}

export interface PublishProgress {
  phase: 'hash' | 'upload' | 'finalize';
  bytes: number;
  total: number;
}

export interface PublishRunOptions {
  signal?: AbortSignal;
  onProgress?: (progress: PublishProgress) => void;
}

/** What `swarmlane publish --json` prints. */
export interface PublishResult {
  product: string;
  version: string;
  channel: string;
  size: number;
  sha256: string;
  pieceLength: number;
  pieceCount: number;
  infoHash: string;
  object: string;
  manifest: string;
  torrent: string;
  channelPointer: string;
  sequence: number;
  /** False when the identical release was already published and nothing was written. */
  changed: boolean;
}

interface CurrentState {
  pointer: ChannelSigned | null;
  existing: { manifest: ManifestSigned; bytes: Uint8Array } | null;
}

/**
 * The publish pipeline: blob (hashed in the same single read pass), `.torrent`, manifest, read-back
 * check, and the channel pointer last — so any failure before the last step leaves the channel as it
 * was. Re-publishing identical bytes under the same version is a no-op (or only flips the pointer if
 * an earlier run stopped before it).
 */
export async function publishRelease(
  request: PublishRequest,
  components: PublisherComponents,
  run: PublishRunOptions = {},
): Promise<PublishResult> {
  const req = resolvePublishRequest(request);
  const { store, logger } = components;
  if (components.signingKeys.length === 0) throw new PublishError('INVALID_ARGUMENT', 'no signing key given');
  for (const key of components.signingKeys)
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519')
      throw new PublishError('KEY_MISMATCH', 'release signing keys must be ed25519 private keys');
  const trusted = createTrustedKeys(
    components.signingKeys.map((k) => createPublicKey(k)),
    components.signingKeys.length,
  );
  const file = await openReleaseFile(req.file);
  try {
    const state = await readState(store, req, trusted);
    const log = logger.child({ product: req.product, version: req.version, channel: req.channel });
    if (state.existing) return await republish(file, req, state, components, trusted, run, log);
    return await publishNew(file, req, state.pointer, components, trusted, run, log);
  } finally {
    await file.handle.close();
  }
}

/**
 * Reads the channel pointer and any manifest already stored for this version. The first store call
 * doubles as the reachability / credentials check, before anything is written.
 */
async function readState(
  store: ObjectStore,
  req: ResolvedPublishRequest,
  trusted: TrustedKeys,
): Promise<CurrentState> {
  const pointer = await readDocument(store, storeKeys.channel(req.product, req.channel), (bytes) =>
    // Expiry is not checked (now = 0): an expired pointer is exactly what a new publish renews.
    verifyChannel(bytes, trusted, { now: 0, product: req.product, channel: req.channel }),
  );
  if (pointer) {
    const order = compareSemver(req.version, pointer.version);
    if (order < 0)
      throw new PublishError(
        'ROLLBACK',
        `version ${req.version} is lower than ${req.channel}'s current version ${pointer.version}`,
      );
    if (order === 0 && pointer.manifest !== storeKeys.manifest(req.product, req.version))
      throw new PublishError('ROLLBACK', `version ${req.version} is already current on ${req.channel}`);
  }
  const existing = await readDocument(store, storeKeys.manifest(req.product, req.version), (bytes) => ({
    manifest: verifyManifest(bytes, trusted, { now: 0, product: req.product, version: req.version }),
    bytes,
  }));
  if (pointer && !existing && compareSemver(req.version, pointer.version) === 0)
    throw new PublishError(
      'STORED_MISMATCH',
      `channel names ${pointer.manifest} but it is missing from the store`,
    );
  return { pointer, existing };
}

async function readDocument<T>(
  store: ObjectStore,
  key: string,
  verify: (bytes: Uint8Array) => T,
): Promise<T | null> {
  let bytes: Uint8Array;
  try {
    bytes = await store.get(key);
  } catch (error) {
    if (error instanceof StoreError && error.code === 'NOT_FOUND') return null;
    throw error;
  }
  try {
    return verify(bytes);
  } catch (error) {
    if (
      error instanceof ReleaseVerifyError &&
      ['SIGNATURE_INVALID', 'THRESHOLD_NOT_MET'].includes(error.code)
    )
      throw new PublishError(
        'KEY_MISMATCH',
        `${key} in the store is not signed by this key; refusing to replace it`,
      );
    if (error instanceof ReleaseVerifyError)
      throw new PublishError('STORED_MISMATCH', `${key} in the store is invalid (${error.message})`);
    throw error;
  }
}

async function publishNew(
  file: ReleaseFile,
  req: ResolvedPublishRequest,
  pointer: ChannelSigned | null,
  components: PublisherComponents,
  trusted: TrustedKeys,
  run: PublishRunOptions,
  log: PublisherComponents['logger'],
): Promise<PublishResult> {
  const { store, clock } = components;
  const objectKey = storeKeys.object(req.product, req.version, file.name);
  const torrentKey = storeKeys.torrent(req.product, req.version);
  const manifestKey = storeKeys.manifest(req.product, req.version);

  // 1. Blob, hashed on its way to the store. Nothing references it until the manifest exists, so an
  //    interrupted earlier attempt's blob is simply overwritten.
  log.info({ key: objectKey, size: file.size }, 'uploading blob');
  const hasher = new PieceHasher(req.pieceSize);
  const body = hashingBody(file, hasher, (bytes) =>
    run.onProgress?.({ phase: 'upload', bytes, total: file.size }),
  );
  try {
    await store.put(objectKey, body, {
      contentType: 'application/octet-stream',
      size: file.size,
      signal: run.signal,
    });
  } catch (error) {
    body.destroy();
    if (run.signal?.aborted)
      throw new PublishError('UPLOAD_INTERRUPTED', 'publish interrupted; channel unchanged');
    if (error instanceof StoreError) throw error;
    throw new PublishError(
      'UPLOAD_INTERRUPTED',
      `upload of ${objectKey} failed: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  await assertUnchanged(file, hasher.bytesHashed);
  const digests = hasher.digest();
  run.onProgress?.({ phase: 'finalize', bytes: file.size, total: file.size });

  // 2. Torrent.
  const torrent = createTorrent({
    name: file.name,
    length: digests.size,
    pieceLength: req.pieceSize,
    sha1Pieces: digests.sha1Pieces,
    ...(req.trackerUrl ? { announce: `${req.trackerUrl}/announce` } : {}),
    ...(req.webseedUrl
      ? { urlList: [`${req.webseedUrl}/${objectKey.split('/').map(encodeURIComponent).join('/')}`] }
      : {}),
    createdBy: 'swarmlane',
  });
  await store.put(torrentKey, torrent.bytes, { contentType: 'application/x-bittorrent', signal: run.signal });

  // 3. Manifest, put-if-absent: a concurrent publisher of the same version loses instead of overwriting.
  const now = clock.now();
  const manifest: ManifestSigned = {
    schema: MANIFEST_SCHEMA_ID,
    product: req.product,
    version: req.version,
    channel: req.channel,
    file: file.name,
    size: digests.size,
    sha256: digests.sha256,
    pieceLength: req.pieceSize,
    pieces: digests.pieces,
    infoHash: torrent.infoHash,
    object: objectKey,
    torrent: torrentKey,
    created: new Date(now).toISOString(),
    expires: new Date(now + req.expiresDays * DAY_MS).toISOString(),
  };
  const manifestBytes = encodeDocument(
    signEnvelope(manifest, components.signingKeys) satisfies SignedManifest,
  );
  try {
    await store.put(manifestKey, manifestBytes, {
      ifAbsent: true,
      contentType: 'application/json',
      signal: run.signal,
    });
  } catch (error) {
    if (error instanceof StoreError && error.code === 'ALREADY_EXISTS')
      throw new PublishError(
        'CONCURRENT_PUBLISH',
        `${manifestKey} appeared while publishing; another publish won`,
      );
    throw error;
  }

  // 4. Check what the store now holds, then 5. flip the channel pointer.
  await checkStored(store, manifest, manifestBytes, trusted, now);
  log.info({ key: manifestKey }, 'release stored and checked');
  const sequence = await writePointer(
    store,
    req,
    manifestKey,
    sha256Hex(manifestBytes),
    pointer,
    components,
    trusted,
  );
  return result(req, manifest, digests.pieces.length, sequence, true);
}

/** Same version already stored: identical bytes is a no-op (or a pointer flip), different bytes is refused. */
async function republish(
  file: ReleaseFile,
  req: ResolvedPublishRequest,
  state: CurrentState,
  components: PublisherComponents,
  trusted: TrustedKeys,
  run: PublishRunOptions,
  log: PublisherComponents['logger'],
): Promise<PublishResult> {
  const { manifest, bytes } = state.existing!;
  const digests: PieceDigests = await hashFile(
    file,
    manifest.pieceLength,
    (b) => run.onProgress?.({ phase: 'hash', bytes: b, total: file.size }),
    run.signal,
  );
  if (digests.size !== manifest.size || digests.sha256 !== manifest.sha256 || file.name !== manifest.file)
    throw new PublishError(
      'VERSION_EXISTS',
      `${req.product} ${req.version} is already published with different bytes (${manifest.file}, sha256 ${manifest.sha256})`,
    );
  const manifestSha256 = sha256Hex(bytes);
  if (state.pointer && state.pointer.manifestSha256 === manifestSha256) {
    log.info('identical release already published; nothing to do');
    return result(req, manifest, manifest.pieces.length, state.pointer.sequence, false);
  }
  // An earlier run stopped after the manifest: check the stored release, then finish the flip.
  await checkStored(components.store, manifest, bytes, trusted, components.clock.now());
  const sequence = await writePointer(
    components.store,
    req,
    storeKeys.manifest(req.product, req.version),
    manifestSha256,
    state.pointer,
    components,
    trusted,
  );
  return result(req, manifest, manifest.pieces.length, sequence, true);
}

/** Reads back what was stored: blob size, torrent infohash and geometry, manifest bytes and signature. */
async function checkStored(
  store: ObjectStore,
  manifest: ManifestSigned,
  manifestBytes: Uint8Array,
  trusted: TrustedKeys,
  now: number,
): Promise<void> {
  const fail = (what: string): never => {
    throw new PublishError('STORED_MISMATCH', `stored ${what} does not match what was published`);
  };
  const blob = await store.head(manifest.object);
  if (!blob || blob.size !== manifest.size) fail(`object ${manifest.object}`);
  const torrent = parseTorrent(await store.get(manifest.torrent));
  if (
    torrent.infoHash !== manifest.infoHash ||
    torrent.length !== manifest.size ||
    torrent.pieceLength !== manifest.pieceLength ||
    torrent.pieces.length !== manifest.pieces.length
  )
    fail(`torrent ${manifest.torrent}`);
  const stored = await store.get(storeKeys.manifest(manifest.product, manifest.version));
  if (sha256Hex(stored) !== sha256Hex(manifestBytes)) fail('manifest');
  verifyManifest(stored, trusted, { now, product: manifest.product, version: manifest.version });
}

/** Writes the channel pointer with sequence = previous + 1, after re-reading it to catch a race. */
async function writePointer(
  store: ObjectStore,
  req: ResolvedPublishRequest,
  manifestKey: string,
  manifestSha256: string,
  previous: ChannelSigned | null,
  components: PublisherComponents,
  trusted: TrustedKeys,
): Promise<number> {
  const channelKey = storeKeys.channel(req.product, req.channel);
  const latest = await readDocument(store, channelKey, (bytes) => verifyChannel(bytes, trusted, { now: 0 }));
  if ((latest?.sequence ?? 0) !== (previous?.sequence ?? 0))
    throw new PublishError('CONCURRENT_PUBLISH', `${channelKey} changed while publishing; run publish again`);
  const now = components.clock.now();
  const sequence = (previous?.sequence ?? 0) + 1;
  const pointer: ChannelSigned = {
    schema: CHANNEL_SCHEMA_ID,
    product: req.product,
    channel: req.channel,
    version: req.version,
    manifest: manifestKey,
    manifestSha256,
    sequence,
    expires: new Date(now + req.expiresDays * DAY_MS).toISOString(),
  };
  const envelope: SignedChannel = signEnvelope(pointer, components.signingKeys);
  await store.put(channelKey, encodeDocument(envelope), { contentType: 'application/json' });
  components.logger.info(
    { key: channelKey, sequence, keyid: components.signingKeys.map((k) => keyId(k)) },
    'channel pointer updated',
  );
  return sequence;
}

/** Stored documents are pretty-printed JSON; signatures cover the canonical form of `signed` only. */
function encodeDocument(envelope: unknown): Uint8Array {
  return encoder.encode(`${JSON.stringify(envelope, null, 2)}\n`);
}

function result(
  req: ResolvedPublishRequest,
  manifest: ManifestSigned,
  pieceCount: number,
  sequence: number,
  changed: boolean,
): PublishResult {
  return {
    product: req.product,
    version: req.version,
    channel: req.channel,
    size: manifest.size,
    sha256: manifest.sha256,
    pieceLength: manifest.pieceLength,
    pieceCount,
    infoHash: manifest.infoHash,
    object: manifest.object,
    manifest: storeKeys.manifest(req.product, req.version),
    torrent: manifest.torrent,
    channelPointer: storeKeys.channel(req.product, req.channel),
    sequence,
    changed,
  };
}
