/**
 * The release a real-kernel lab run distributes: seeded pseudo-random bytes (like the simulated lab),
 * published with the real publisher into a file:// store, signed with a key made for this run and
 * stamped with the lab's tracker and CDN URLs, at the real current time.
 */
import { createCipheriv, createHash, createPrivateKey } from 'node:crypto';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { publishRelease } from '../../publisher/index.ts';
import { generateKeyPair, openStore, storeKeys } from '../../release/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { createNodeClock } from '../../runtime/node/index.ts';

export const REALNET_PRODUCT = 'lab-firmware';
export const REALNET_CHANNEL = 'stable';
export const REALNET_VERSION = '1.0.0';

export interface RealRelease {
  file: string;
  size: number;
  sha256: string;
  storeDir: string;
  storeUrl: string;
  /** Ed25519 publisher public key (PEM) the agents and tracker trust. */
  publicKeyPath: string;
  /** Path of the release's .torrent inside the store. */
  torrentPath: string;
}

async function writeSeededFile(path: string, size: number, seed: number): Promise<string> {
  const key = createHash('sha256').update(`swarmlane-lab-release:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(1024 * 1024);
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let written = 0; written < size; written += chunk.length) {
      const n = Math.min(chunk.length, size - written);
      const out = cipher.update(n === chunk.length ? chunk : chunk.subarray(0, n));
      hash.update(out);
      yield out;
    }
  }
  await pipeline(chunks(), createWriteStream(path));
  return hash.digest('hex');
}

export async function prepareRealRelease(options: {
  dir: string;
  size: number;
  pieceSize: number;
  seed: number;
  trackerUrl: string;
  cdnUrl: string;
}): Promise<RealRelease> {
  const file = join(options.dir, 'firmware.bin');
  const sha256 = await writeSeededFile(file, options.size, options.seed);
  const pair = generateKeyPair('ed25519');
  const publicKeyPath = join(options.dir, 'publisher.pub');
  writeFileSync(publicKeyPath, pair.publicPem);
  const storeDir = join(options.dir, 'store');
  const storeUrl = `file://${storeDir}`;
  await publishRelease(
    {
      file,
      product: REALNET_PRODUCT,
      version: REALNET_VERSION,
      channel: REALNET_CHANNEL,
      pieceSize: options.pieceSize,
      trackerUrl: options.trackerUrl,
      webseedUrl: options.cdnUrl,
      expiresDays: 30,
    },
    {
      store: openStore(storeUrl),
      signingKeys: [createPrivateKey(pair.privatePem)],
      clock: createNodeClock(),
      logger: createSilentLogger(),
    },
  );
  return {
    file,
    size: options.size,
    sha256,
    storeDir,
    storeUrl,
    publicKeyPath,
    torrentPath: join(storeDir, storeKeys.torrent(REALNET_PRODUCT, REALNET_VERSION)),
  };
}
