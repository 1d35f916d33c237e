import {
  type ManifestSigned,
  type ObjectStore,
  readCurrentRelease,
  releaseId,
  StoreError,
  storeKeys,
  type TrustedKeys,
  verifyManifest,
} from '../release/index.ts';
import type { Clock, Logger } from '../runtime/index.ts';
import type { ReleaseCatalogue, ReleaseInfo } from './catalogue.ts';

export interface StoreCatalogueOptions {
  /** How long a channel pointer read stays fresh before it is read again, ms. */
  refreshMs: number;
  trusted: TrustedKeys;
}

export const DEFAULT_CATALOGUE_REFRESH_MS = 30_000;
/** Shortest gap between two store scans triggered by unknown info hashes, ms. */
const RESCAN_MS = 1_000;

/**
 * Releases from the store's signed channel pointers and manifests, verified with the trusted keys,
 * cached and re-read on the injected clock. A channel never moves backwards here (rollback check),
 * and a pointer that fails verification leaves the last good answer in place. Releases that are no
 * longer current stay known (from their signed manifest) so devices mid-download keep their swarm.
 * Misses are cached for `refreshMs` too, so junk ids cannot turn into a store flood.
 */
export function createStoreCatalogue(
  options: StoreCatalogueOptions,
  components: { store: ObjectStore; clock: Clock; logger: Logger },
): ReleaseCatalogue {
  const { store, clock } = components;
  const log = components.logger.child({ component: 'tracker-catalogue' });
  const byId = new Map<string, ReleaseInfo>();
  const byHash = new Map<string, ReleaseInfo>();
  const channels = new Map<
    string,
    { info: ReleaseInfo | null; at: number; lastSeen?: { sequence: number; version: string } }
  >();
  const misses = new Map<string, number>();
  const inflight = new Map<string, Promise<unknown>>();
  let lastScan = Number.NEGATIVE_INFINITY;

  const once = <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const running = inflight.get(key);
    if (running) return running as Promise<T>;
    const promise = work().finally(() => inflight.delete(key));
    inflight.set(key, promise);
    return promise;
  };

  const remember = (manifest: ManifestSigned, channel: string): ReleaseInfo => {
    const info: ReleaseInfo = {
      id: releaseId(manifest.product, manifest.version),
      product: manifest.product,
      channel,
      version: manifest.version,
      infoHash: manifest.infoHash,
      pieceCount: manifest.pieces.length,
      manifestKey: storeKeys.manifest(manifest.product, manifest.version),
      objectKey: manifest.object,
    };
    byId.set(info.id, info);
    byHash.set(info.infoHash, info);
    return info;
  };

  const fresh = (at: number) => clock.now() - at < options.refreshMs;

  const current = (product: string, channel: string): Promise<ReleaseInfo | null> => {
    const key = `${product}/${channel}`;
    const cached = channels.get(key);
    if (cached && fresh(cached.at)) return Promise.resolve(cached.info);
    return once(`channel:${key}`, async () => {
      const now = clock.now();
      try {
        const release = await readCurrentRelease(store, product, channel, options.trusted, {
          now,
          ...(cached?.lastSeen ? { lastSeen: cached.lastSeen } : {}),
        });
        const info = remember(release.manifest, channel);
        channels.set(key, {
          info,
          at: now,
          lastSeen: { sequence: release.channel.sequence, version: release.channel.version },
        });
        return info;
      } catch (error) {
        if (error instanceof StoreError && error.code === 'NOT_FOUND') {
          channels.set(key, {
            info: cached?.info ?? null,
            at: now,
            ...(cached?.lastSeen ? { lastSeen: cached.lastSeen } : {}),
          });
          return cached?.info ?? null;
        }
        log.warn({ err: error, product, channel }, 'channel pointer refused; keeping the last good release');
        channels.set(key, {
          info: cached?.info ?? null,
          at: now,
          ...(cached?.lastSeen ? { lastSeen: cached.lastSeen } : {}),
        });
        return cached?.info ?? null;
      }
    });
  };

  /**
   * Reads every channel pointer in the store. `force` re-reads pointers still fresh in the cache (an
   * unknown info hash may be a release published a moment ago); forced scans run at most once per
   * RESCAN_MS, so junk info hashes cannot turn into a store flood. A caller arriving while a scan runs
   * waits for it rather than concluding from a half-read store.
   */
  const scan = (force: boolean): Promise<void> => {
    const running = inflight.get('scan');
    if (running) return running as Promise<void>;
    if (fresh(lastScan) && !(force && clock.now() - lastScan >= Math.min(RESCAN_MS, options.refreshMs)))
      return Promise.resolve();
    return once('scan', async () => {
      lastScan = clock.now();
      const keys = await store.list('channels/');
      for (const key of keys) {
        const match = /^channels\/([^/]+)\/([^/]+)\.json$/.exec(key);
        if (!match) continue;
        if (force) expire(`${match[1]}/${match[2]}`);
        await current(match[1] as string, match[2] as string);
      }
    });
  };

  const manifestById = (id: string): Promise<ReleaseInfo | null> =>
    once(`manifest:${id}`, async () => {
      const at = id.indexOf('@');
      const product = id.slice(0, at);
      const version = id.slice(at + 1);
      try {
        const bytes = await store.get(storeKeys.manifest(product, version));
        const manifest = verifyManifest(bytes, options.trusted, { now: clock.now(), product, version });
        return remember(manifest, manifest.channel);
      } catch (error) {
        if (!(error instanceof StoreError && error.code === 'NOT_FOUND'))
          log.warn({ err: error, release: id }, 'manifest refused');
        return null;
      }
    });

  const missed = (key: string, ttlMs = options.refreshMs) => {
    const at = misses.get(key);
    return at !== undefined && clock.now() - at < ttlMs;
  };
  const expire = (key: string) => {
    const cached = channels.get(key);
    if (cached) cached.at = Number.NEGATIVE_INFINITY;
  };
  const miss = (key: string) => {
    if (misses.size > 10_000) misses.clear();
    misses.set(key, clock.now());
  };

  return {
    current,
    async byId(id) {
      const known = byId.get(id);
      if (known) return known;
      if (missed(`id:${id}`) || !id.includes('@')) return null;
      const found = await manifestById(id);
      if (!found) miss(`id:${id}`);
      return found;
    },
    async byInfoHash(infoHash) {
      const known = byHash.get(infoHash);
      if (known) return known;
      // Short-lived: the release may be published any moment (scans are rate-limited anyway).
      if (missed(`hash:${infoHash}`, Math.min(RESCAN_MS, options.refreshMs))) return null;
      await scan(true);
      const found = byHash.get(infoHash) ?? null;
      if (!found) miss(`hash:${infoHash}`);
      return found;
    },
  };
}
