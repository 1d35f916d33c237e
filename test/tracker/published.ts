import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { publishRelease } from '../../publisher/index.ts';
import { createTrustedKeys, generateKeyPair, openStore, type TrustedKeys } from '../../release/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { createNodeClock } from '../../runtime/node/index.ts';

/** A real release published by the publisher into a temporary file:// store. */
export interface PublishedFixture {
  dir: string;
  storeUrl: string;
  file: string;
  bytes: Uint8Array;
  trusted: TrustedKeys;
  /** The signing key's public half as a PEM file (what --trusted-key takes). */
  publicKeyPath: string;
  publish(
    version: string,
    trackerUrl?: string,
  ): Promise<{ infoHash: string; torrent: string; object: string }>;
  cleanup(): void;
}

export function createPublishedFixture(size = 300_000): PublishedFixture {
  const dir = mkdtempSync(join(tmpdir(), 'tracker-rel-'));
  const storeUrl = pathToFileURL(join(dir, 'store')).href;
  const file = join(dir, 'firmware.bin');
  const bytes = createSeededRandom(42).bytes(size);
  writeFileSync(file, bytes);
  const pair = generateKeyPair('ed25519');
  const store = openStore(storeUrl);
  const publicKeyPath = join(dir, 'release.pub');
  writeFileSync(publicKeyPath, pair.publicPem);
  return {
    publicKeyPath,
    dir,
    storeUrl,
    file,
    bytes,
    trusted: createTrustedKeys([createPublicKey(pair.publicPem)], 1),
    async publish(version, trackerUrl) {
      const result = await publishRelease(
        { file, product: 'acme-fw', version, pieceSize: 16_384, ...(trackerUrl ? { trackerUrl } : {}) },
        {
          store,
          signingKeys: [createPrivateKey(pair.privatePem)],
          clock: createNodeClock(),
          logger: createSilentLogger(),
        },
      );
      return { infoHash: result.infoHash, torrent: result.torrent, object: result.object };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
