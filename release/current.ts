import type { TrustedKeys } from './envelope.ts';
import { StoreError } from './errors.ts';
import type { ChannelSigned, ManifestSigned } from './schema.ts';
import { storeKeys } from './schema.ts';
import type { ObjectStore } from './store/index.ts';
import { verifyChannel, verifyManifest } from './verify.ts';

export interface CurrentRelease {
  channel: ChannelSigned;
  /** The channel pointer's bytes as stored (to hand on, e.g. from tracker to agent). */
  channelBytes: Uint8Array;
  manifest: ManifestSigned;
  manifestBytes: Uint8Array;
}

/**
 * Reads and verifies the channel pointer, then the manifest it names (hash-pinned by the pointer).
 * Throws StoreError NOT_FOUND when the channel has never been published, ReleaseVerifyError otherwise.
 */
export async function readCurrentRelease(
  store: ObjectStore,
  product: string,
  channel: string,
  trusted: TrustedKeys,
  options: { now: number; lastSeen?: { sequence: number; version: string } },
): Promise<CurrentRelease> {
  const channelBytes = await store.get(storeKeys.channel(product, channel));
  const pointer = verifyChannel(channelBytes, trusted, { ...options, product, channel });
  let manifestBytes: Uint8Array;
  try {
    manifestBytes = await store.get(pointer.manifest);
  } catch (error) {
    if (error instanceof StoreError && error.code === 'NOT_FOUND')
      throw new StoreError(
        'NOT_FOUND',
        `channel ${product}/${channel} names a missing manifest ${pointer.manifest}`,
      );
    throw error;
  }
  const manifest = verifyManifest(manifestBytes, trusted, {
    now: options.now,
    expectedSha256: pointer.manifestSha256,
    product,
    version: pointer.version,
  });
  return { channel: pointer, channelBytes, manifest, manifestBytes };
}
