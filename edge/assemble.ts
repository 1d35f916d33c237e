import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { ObjectStore, TrustedKeys } from '../release/index.ts';
import type { Address, Clock, HttpClient, Logger, Random, UdpNetwork } from '../runtime/index.ts';
import type { EndpointOptions } from '../transport/index.ts';
import { EdgeError } from './errors.ts';
import { createManifestRegistry } from './manifests.ts';
import { createEdgeHttpApp, createEdgeMetricsRegistry } from './metrics.ts';
import { createHttpOrigin, createStoreOrigin, type Origin } from './origin.ts';
import { createPieceCache, type PieceCache } from './piece-cache.ts';
import { createPieceProvider, type PieceProvider } from './pieces.ts';
import { createEdgeServer, type EdgeServer } from './server.ts';
import { createTrackerClient } from './tracker-client.ts';

/**
 * Everything an edge process runs, wired once: origin (store or upstream CDN), manifest registry, disk
 * piece cache (re-checked on start), piece provider, the PZ server on a socket bound through the given
 * UdpNetwork, tracker registration and the metrics app. The CLI calls this with the real Env; the lab
 * with a simulated host's (pass `cache: createMemoryPieceCache(...)` there: no disk I/O in virtual
 * time). Call `start()` to register with the tracker.
 */
export interface EdgeNodeOptions {
  id: string;
  region: string;
  staticPrivateKey: Uint8Array;
  listen: Address;
  /** Origin: an object store, or the base URL of an upstream CDN. One of the two. */
  store?: ObjectStore;
  originUrl?: string;
  /** Disk cache directory and byte cap; or pass `cache` (e.g. createMemoryPieceCache in the lab). */
  cacheDir?: string;
  cacheBytes: number;
  cache?: PieceCache;
  /** Memory for hot verified pieces. Default 64 MiB. */
  memoryBytes?: number;
  trackerUrl?: string;
  trackerToken?: string;
  trusted?: TrustedKeys;
  capacityBytesPerSecond?: number;
  sessionBytesPerSecond?: number;
  maxSessions?: number;
  advertiseAddress?: Address;
  transport?: Omit<EndpointOptions, 'staticPrivateKey' | 'onInit'>;
}

export interface EdgeNode {
  server: EdgeServer;
  pieces: PieceProvider;
  cache: PieceCache;
  origin: Origin;
  metrics: Registry;
  /** /metrics and /healthz; the caller listens (or the lab serves it). */
  httpApp: FastifyInstance;
  cacheCheck: { kept: number; dropped: number };
  /** Starts tracker registration and heartbeats (nothing runs on timers before this). */
  start(): void;
  close(): Promise<void>;
}

export async function createEdgeNode(
  options: EdgeNodeOptions,
  components: { udp: UdpNetwork; http: HttpClient; clock: Clock; random: Random; logger: Logger },
): Promise<EdgeNode> {
  const { clock, logger } = components;
  const origin = options.store
    ? createStoreOrigin(options.store)
    : createHttpOrigin(options.originUrl ?? '', { http: components.http });
  if (!options.cache && !options.cacheDir)
    throw new EdgeError('CONFIG_INVALID', 'an edge needs a cache directory');
  const cache =
    options.cache ?? createPieceCache({ dir: options.cacheDir!, capacityBytes: options.cacheBytes });
  const cacheCheck = await cache.open();
  const manifests = createManifestRegistry({ trusted: options.trusted }, { origin, clock });
  const pieces = createPieceProvider({ memoryBytes: options.memoryBytes }, { manifests, cache, origin });
  const socket = await components.udp.bind({ host: options.listen.host, port: options.listen.port });
  const tracker = options.trackerUrl
    ? createTrackerClient(
        { trackerUrl: options.trackerUrl, token: options.trackerToken },
        { http: components.http },
      )
    : undefined;
  const server = createEdgeServer(
    {
      id: options.id,
      region: options.region,
      staticPrivateKey: options.staticPrivateKey,
      capacityBytesPerSecond: options.capacityBytesPerSecond,
      sessionBytesPerSecond: options.sessionBytesPerSecond,
      maxSessions: options.maxSessions,
      advertiseAddress: options.advertiseAddress,
      transport: options.transport,
    },
    { socket, clock, random: components.random, logger, pieces, tracker },
  );
  const metrics = createEdgeMetricsRegistry({
    server: () => server.stats(),
    load: () => server.load(),
    pieces: () => pieces.stats(),
    cache: () => cache.stats(),
  });
  const httpApp = createEdgeHttpApp(metrics, () => ({
    id: options.id,
    load: server.load(),
    sessions: server.stats().sessions,
  }));
  return {
    server,
    pieces,
    cache,
    origin,
    metrics,
    httpApp,
    cacheCheck,
    start: () => server.start(),
    async close() {
      await httpApp.close();
      await server.close();
    },
  };
}
