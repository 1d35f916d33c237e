import { DEFAULT_EDGE_REGISTRY, type EdgeRegistryOptions } from './edges.ts';
import type { PeeringScope } from './locality.ts';
import type { PrefixTable } from './prefixes.ts';
import { DEFAULT_RATE_LIMIT, type RateLimitOptions } from './rate-limit.ts';
import { DEFAULT_ROLLOUT, type RolloutDefaults } from './rollout.ts';
import { DEFAULT_SELECTION_OPTIONS, type SelectionOptions } from './selection.ts';

/** Every tracker option with its default, in one place. */
export interface TrackerOptions {
  /** CDN base URLs in front of the store; a release's object is served at `<base>/<object key>`. */
  cdnBaseUrls: string[];
  /** Operator prefix table (cidr, asn, isp, region); null = locality from agent hints only. */
  prefixes: PrefixTable | null;
  /** Peering scope per product; products not listed use `defaultScope`. */
  scopes: Record<string, PeeringScope>;
  defaultScope: PeeringScope;
  /** Announce interval of an established swarm, seconds (BitTorrent's customary 15 min). */
  announceIntervalSec: number;
  /** Interval while a swarm is young, so early devices find the peers that arrive after them. */
  youngIntervalSec: number;
  /** A swarm is young for this long after its first announce, seconds. */
  youngSwarmSec: number;
  minIntervalSec: number;
  /** A peer that has not announced for this long leaves the swarm, seconds. */
  peerTtlSec: number;
  /** Peers per agent answer unless the agent asks otherwise, and the cap on what it may ask for. */
  defaultNumwant: number;
  maxNumwant: number;
  /** The same for standard BitTorrent clients. */
  btDefaultNumwant: number;
  btMaxNumwant: number;
  /** Edges per discovery answer. */
  edgeLimit: number;
  edges: EdgeRegistryOptions;
  rollout: RolloutDefaults;
  selection: Omit<SelectionOptions, 'scope' | 'mode'>;
  /** `locality` (default) or `random`, the plain-BitTorrent baseline for lab comparisons. */
  selectionMode: 'locality' | 'random';
  /** Per-client-address limit; null disables it (benchmarks, trusted networks). */
  rateLimit: RateLimitOptions | null;
  /** Bearer token of the admin API; null disables the admin API. */
  adminToken: string | null;
  /** Bearer token edges register with; null lets any edge register (lab only). */
  edgeToken: string | null;
  /** Serve standard announces for info hashes of releases the catalogue does not know. */
  allowUnknownTorrents: boolean;
  /** Largest request body, bytes. */
  bodyLimit: number;
  /** Honour X-Forwarded-For (only behind a trusted load balancer). */
  trustProxy: boolean;
  /**
   * The rendezvous/STUN UDP endpoint agents should keep a session with: its port (on the tracker's
   * host) and base64 raw X25519 static key. Served at GET /v1/rendezvous; null = no rendezvous.
   */
  rendezvous: { port: number; publicKey: string } | null;
  /** Stale peers removed per announce (bounded work; expired peers also get skipped when sampled). */
  pruneBatch: number;
}

export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = {
  cdnBaseUrls: [],
  prefixes: null,
  scopes: {},
  defaultScope: 'internet',
  announceIntervalSec: 900,
  youngIntervalSec: 30,
  youngSwarmSec: 600,
  minIntervalSec: 10,
  peerTtlSec: 1_920,
  defaultNumwant: 30,
  maxNumwant: 100,
  btDefaultNumwant: 50,
  btMaxNumwant: 200,
  edgeLimit: 4,
  edges: DEFAULT_EDGE_REGISTRY,
  rollout: DEFAULT_ROLLOUT,
  selection: {
    bridgeEvery: DEFAULT_SELECTION_OPTIONS.bridgeEvery,
    maxBridges: DEFAULT_SELECTION_OPTIONS.maxBridges,
    oversample: DEFAULT_SELECTION_OPTIONS.oversample,
  },
  selectionMode: 'locality',
  rateLimit: DEFAULT_RATE_LIMIT,
  adminToken: null,
  edgeToken: null,
  allowUnknownTorrents: false,
  bodyLimit: 256 * 1024,
  trustProxy: false,
  pruneBatch: 16,
  rendezvous: null,
};

export function resolveTrackerOptions(options: Partial<TrackerOptions>): TrackerOptions {
  return { ...DEFAULT_TRACKER_OPTIONS, ...options };
}
