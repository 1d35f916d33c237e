import { Value } from '@sinclair/typebox/value';
import {
  type ManifestSigned,
  SignedManifest,
  storeKeys,
  type TrustedKeys,
  verifyManifest,
} from '../release/index.ts';
import type { Clock } from '../runtime/index.ts';
import { createCoalescer } from './coalesce.ts';
import { EdgeError } from './errors.ts';
import { createSizedLru } from './lru.ts';
import type { Origin } from './origin.ts';

/**
 * Release id (`product@version`) -> manifest, read from the origin once and kept (a published release
 * never changes). Unknown releases are remembered for a short while so a client asking for garbage
 * cannot make the edge hammer the origin. With trusted keys the manifest's signatures are checked too;
 * without, the edge trusts its own origin (devices verify signatures themselves either way).
 */
export interface ManifestRegistry {
  /** The manifest, or null if the release does not exist at the origin. */
  get(releaseId: string): Promise<ManifestSigned | null>;
  /** Pre-seeds a manifest (tests, or an edge told about a release by the tracker). */
  add(manifest: ManifestSigned): void;
}

export interface ManifestRegistryOptions {
  trusted?: TrustedKeys;
  /** How long "no such release" is remembered. Default 5000 ms. */
  negativeTtlMs?: number;
}

const RELEASE_ID = /^([A-Za-z0-9][A-Za-z0-9._-]{0,127})@([0-9A-Za-z.+-]{1,128})$/;

export function parseReleaseId(id: string): { product: string; version: string } | null {
  const match = RELEASE_ID.exec(id);
  return match ? { product: match[1]!, version: match[2]! } : null;
}

export function createManifestRegistry(
  options: ManifestRegistryOptions,
  components: { origin: Origin; clock: Clock },
): ManifestRegistry {
  const { origin, clock } = components;
  const known = new Map<string, ManifestSigned>();
  const missing = createSizedLru<number>(10_000);
  const coalescer = createCoalescer<ManifestSigned | null>();
  const negativeTtl = options.negativeTtlMs ?? 5000;

  const load = async (id: string, product: string, version: string): Promise<ManifestSigned | null> => {
    const bytes = await origin.readObject(storeKeys.manifest(product, version));
    if (!bytes) return null;
    let manifest: ManifestSigned;
    if (options.trusted) {
      manifest = verifyManifest(bytes, options.trusted, { now: clock.now(), product, version });
    } else {
      let envelope: unknown;
      try {
        envelope = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        throw new EdgeError('MANIFEST_INVALID', `manifest of ${id} is not JSON`);
      }
      if (!Value.Check(SignedManifest, envelope))
        throw new EdgeError('MANIFEST_INVALID', `manifest of ${id} does not match its schema`);
      manifest = (envelope as { signed: ManifestSigned }).signed;
      if (manifest.product !== product || manifest.version !== version)
        throw new EdgeError(
          'MANIFEST_INVALID',
          `manifest at ${id} names ${manifest.product}@${manifest.version}`,
        );
    }
    return manifest;
  };

  return {
    add(manifest) {
      known.set(`${manifest.product}@${manifest.version}`, manifest);
    },
    async get(id) {
      const hit = known.get(id);
      if (hit) return hit;
      const parsed = parseReleaseId(id);
      if (!parsed) return null;
      const missAt = missing.get(id);
      if (missAt !== undefined && clock.now() - missAt < negativeTtl) return null;
      const manifest = await coalescer.run(id, () => load(id, parsed.product, parsed.version));
      if (manifest) known.set(id, manifest);
      else missing.set(id, clock.now(), 1);
      return manifest;
    },
  };
}
