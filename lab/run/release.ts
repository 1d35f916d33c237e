import { createCipheriv, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { publishRelease } from '../../publisher/index.ts';
import {
  createTrustedKeys,
  type ManifestSigned,
  type ObjectStore,
  openStore,
  readCurrentRelease,
  type TrustedKeys,
} from '../../release/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import type { Scenario } from '../scenario/schema.ts';
import { DEFAULT_START_TIME } from '../sim/index.ts';

export const LAB_PRODUCT = 'lab-firmware';
export const LAB_CHANNEL = 'stable';

export interface LabRelease {
  store: ObjectStore;
  storeDir: string;
  trusted: TrustedKeys;
  manifest: ManifestSigned;
  signingKey: KeyObject;
  /** What another process needs to open the same release (parallel runs). */
  files: LabReleaseFiles;
}

export interface LabReleaseFiles {
  storeDir: string;
  publicPem: string;
  privatePem: string;
}

/**
 * Writes `size` pseudo-random bytes derived from the seed (AES-256-CTR keystream: fast and
 * reproducible, and incompressible like a real firmware image).
 */
async function writeSeededFile(path: string, size: number, seed: number): Promise<void> {
  const key = createHash('sha256').update(`swarmlane-lab-release:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const chunk = Buffer.alloc(1024 * 1024);
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let written = 0; written < size; written += chunk.length) {
      const n = Math.min(chunk.length, size - written);
      yield cipher.update(n === chunk.length ? chunk : chunk.subarray(0, n));
    }
  }
  await pipeline(chunks(), createWriteStream(path));
}

/**
 * Publishes the scenario's release with the real publisher into a file:// store in `dir`, at the
 * simulation's start time, and reads it back through the real verifier.
 */
export async function prepareLabRelease(scenario: Scenario, dir: string): Promise<LabRelease> {
  const file = join(dir, 'firmware.bin');
  await writeSeededFile(file, scenario.release.size, scenario.seed);
  const pair = labKeyPair(scenario.seed);
  const signingKey = createPrivateKey(pair.privatePem);
  const storeDir = join(dir, 'store');
  const store = openStore(`file://${storeDir}`);
  const clock = { now: () => DEFAULT_START_TIME, setTimer: () => ({ id: 0 }), clearTimer: () => {} };
  await publishRelease(
    {
      file,
      product: LAB_PRODUCT,
      version: '1.0.0',
      channel: LAB_CHANNEL,
      pieceSize: scenario.release.pieceSize,
      trackerUrl: 'http://tracker',
      webseedUrl: 'http://cdn',
      expiresDays: 30,
    },
    { store, signingKeys: [signingKey], clock, logger: createSilentLogger() },
  );
  return openLabRelease({ storeDir, publicPem: pair.publicPem, privatePem: pair.privatePem });
}

/**
 * The lab publisher's Ed25519 key, derived from the scenario's seed: the signed documents (and so their
 * gzipped sizes on the CDN, and every timing after them) are then the same in every run of a seed.
 * bench:agent signs its fixture with it for the same reason.
 */
export function labKeyPair(seed: number): { privatePem: string; publicPem: string } {
  const secret = createHash('sha256').update(`swarmlane lab publisher key ${seed}`).digest();
  // PKCS #8 wrapping of a raw Ed25519 private key (RFC 8410): fixed prefix, then the 32 secret bytes.
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), secret]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Opens a release prepareLabRelease published (in this process or another) through the real verifier. */
export async function openLabRelease(files: LabReleaseFiles): Promise<LabRelease> {
  const store = openStore(`file://${files.storeDir}`);
  const trusted = createTrustedKeys([createPublicKey(files.publicPem)]);
  const current = await readCurrentRelease(store, LAB_PRODUCT, LAB_CHANNEL, trusted, {
    now: DEFAULT_START_TIME,
  });
  return {
    store,
    storeDir: files.storeDir,
    trusted,
    manifest: current.manifest,
    signingKey: createPrivateKey(files.privatePem),
    files,
  };
}
