import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createSeededRandom } from '../../runtime/index.ts';
import {
  type ChannelSigned,
  createPrivateKeyFromPem,
  createTorrent,
  generateKeyPair,
  hashPieces,
  type ManifestSigned,
  sha256Hex,
  signEnvelope,
  storeKeys,
} from './release-imports.ts';

export interface PublishedFixture {
  dir: string;
  storeUrl: string;
  data: Uint8Array;
  manifest: ManifestSigned;
  channel: ChannelSigned;
  publicPem: string;
  privatePem: string;
  pubPath: string;
  /** Rewrites the channel pointer (for rollback / expiry tests). */
  writeChannel(overrides: Partial<ChannelSigned>): void;
  /** Rewrites the manifest bytes without touching the pointer (tampering test). */
  writeRawManifest(bytes: Uint8Array): void;
}

const enc = new TextEncoder();

/** Publishes a random release into a fresh file store directory, signed with a fresh key. */
export function publishFixture(options: {
  size: number;
  pieceLength: number;
  seed?: number;
  product?: string;
  version?: string;
  sequence?: number;
  keyPair?: { publicPem: string; privatePem: string };
  dir?: string;
  nowMs?: number;
}): PublishedFixture {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'sl-agent-store-'));
  const product = options.product ?? 'fw';
  const version = options.version ?? '1.0.0';
  const keys = options.keyPair ?? generateKeyPair('ed25519');
  const key = createPrivateKeyFromPem(keys.privatePem);
  const data = createSeededRandom(options.seed ?? 1).bytes(options.size);
  const digests = hashPieces(data, options.pieceLength);
  const file = 'firmware.bin';
  const torrent = createTorrent({
    name: file,
    length: data.length,
    pieceLength: options.pieceLength,
    sha1Pieces: digests.sha1Pieces,
  });
  const now = options.nowMs ?? Date.now();
  const manifest: ManifestSigned = {
    schema: 'swarmlane.manifest/1',
    product,
    version,
    channel: 'stable',
    file,
    size: data.length,
    sha256: digests.sha256,
    pieceLength: options.pieceLength,
    pieces: digests.pieces,
    infoHash: torrent.infoHash,
    object: storeKeys.object(product, version, file),
    torrent: storeKeys.torrent(product, version),
    created: new Date(now).toISOString(),
    expires: new Date(now + 30 * 86400_000).toISOString(),
  };
  const put = (key: string, bytes: Uint8Array): void => {
    const path = join(dir, key);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
  };
  put(manifest.object, data);
  put(manifest.torrent, torrent.bytes);
  const manifestBytes = enc.encode(JSON.stringify(signEnvelope(manifest, [key])));
  put(storeKeys.manifest(product, version), manifestBytes);
  let channel: ChannelSigned = {
    schema: 'swarmlane.channel/1',
    product,
    channel: 'stable',
    version,
    manifest: storeKeys.manifest(product, version),
    manifestSha256: sha256Hex(manifestBytes),
    sequence: options.sequence ?? 1,
    expires: new Date(now + 30 * 86400_000).toISOString(),
  };
  const writeChannel = (overrides: Partial<ChannelSigned>): void => {
    channel = { ...channel, ...overrides };
    put(storeKeys.channel(product, 'stable'), enc.encode(JSON.stringify(signEnvelope(channel, [key]))));
  };
  writeChannel({});
  const pubPath = join(dir, 'publisher.pub');
  writeFileSync(pubPath, keys.publicPem);
  return {
    dir,
    storeUrl: `file://${dir}`,
    data,
    manifest,
    get channel() {
      return channel;
    },
    publicPem: keys.publicPem,
    privatePem: keys.privatePem,
    pubPath,
    writeChannel,
    writeRawManifest: (bytes) => put(storeKeys.manifest(product, version), bytes),
  };
}
