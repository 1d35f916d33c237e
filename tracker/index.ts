export * from './api-schema.ts';
export { buildTracker, type TrackerApp } from './app.ts';
export { chainLocators, createAsnLocator, type Locator } from './asn-db.ts';
export { createStaticCatalogue, type ReleaseCatalogue, type ReleaseInfo } from './catalogue.ts';
export type { TrackerComponents } from './context.ts';
export { hashToken } from './context.ts';
export { createEdgeRegistry, type EdgeRegistry } from './edges.ts';
export { TRACKER_ERRORS, TrackerConfigError, TrackerError, type TrackerErrorCode } from './errors.ts';
export { canReach, classifyReachability, type PeeringScope, TIERS, type Tier } from './locality.ts';
export { createMemorySwarmStore } from './memory-store.ts';
export { DEFAULT_TRACKER_OPTIONS, resolveTrackerOptions, type TrackerOptions } from './options.ts';
export { createPrefixTable, type PrefixTable, parsePrefixCsv } from './prefixes.ts';
export { DEFAULT_RATE_LIMIT, type RateLimitOptions } from './rate-limit.ts';
export { createRedisSwarmStore, type RedisSwarmStoreOptions } from './redis-store.ts';
export { DEFAULT_RENDEZVOUS, type Registration, Rendezvous, type RendezvousOptions } from './rendezvous.ts';
export {
  createRendezvousClient,
  type PunchGo,
  type RendezvousClient,
  RendezvousError,
} from './rendezvous-client.ts';
export {
  decodeRendezvous,
  encodeRendezvous,
  RendezvousDecodeError,
  type RendezvousMessage,
} from './rendezvous-codec.ts';
export {
  createRendezvousServer,
  type RendezvousServer,
  type RendezvousServerOptions,
} from './rendezvous-server.ts';
export { devicePercent } from './rollout.ts';
export {
  createStoreCatalogue,
  DEFAULT_CATALOGUE_REFRESH_MS,
  type StoreCatalogueOptions,
} from './store-catalogue.ts';
export type { EdgeRecord, PeerRecord, ReachClass, SwarmStore } from './swarm-store.ts';
