import type { ReachabilityReport } from '../nat/report.ts';
import type { NetworkLocation, PrefixTable } from './prefixes.ts';
import { normalizeIp } from './prefixes.ts';
import type { PeerRecord, ReachClass } from './swarm-store.ts';

/** Locality tiers, most local first. The index is the tier number used in rankings. */
export const TIERS = ['lan', 'isp-region', 'isp', 'region', 'internet'] as const;
export type Tier = (typeof TIERS)[number];

/**
 * Peering scope per product (Windows Delivery Optimization-like modes): the widest tier any answer may
 * use. A device's address is only ever shown to devices inside the scope.
 */
export type PeeringScope = 'lan' | 'isp' | 'region' | 'internet';

export const SCOPE_TIERS: Record<PeeringScope, readonly Tier[]> = {
  lan: ['lan'],
  isp: ['lan', 'isp-region', 'isp'],
  region: ['lan', 'isp-region', 'region'],
  internet: ['lan', 'isp-region', 'isp', 'region', 'internet'],
};

export interface Locality extends NetworkLocation {
  /** The address the tracker saw the request come from (same public address = same LAN or CGN). */
  publicIp: string;
}

export interface IspHints {
  asn?: number;
  isp?: string;
  region?: string;
}

/**
 * The operator's prefix table wins; agent hints only fill what it does not know (a hint cannot move a
 * device into an ISP the table places it outside of).
 */
export function resolveLocality(ip: string, table: PrefixTable | null, hints?: IspHints): Locality {
  const publicIp = normalizeIp(ip);
  const known = table?.lookup(publicIp) ?? null;
  return {
    publicIp,
    asn: known?.asn ?? hints?.asn ?? null,
    isp: known?.isp ?? hints?.isp ?? null,
    region: known?.region ?? hints?.region ?? null,
  };
}

export function classifyReachability(report: ReachabilityReport | undefined): ReachClass {
  if (!report) return 'hard';
  if (report.public) return 'open';
  if (report.portMapping?.reachable) return 'open';
  if (report.mapping === 'none' && report.filtering === 'none') return 'open';
  if (report.mapping === 'endpoint-independent' || report.mapping === 'none') {
    return report.filtering === 'endpoint-independent' || report.filtering === 'none' ? 'open' : 'punchable';
  }
  return 'hard';
}

/** Whether a session can be opened between two classes (by dialling, reverse dialling or punching). */
export function canReach(a: ReachClass, b: ReachClass): boolean {
  return a === 'open' || b === 'open' || (a === 'punchable' && b === 'punchable');
}

export type ReachableHow = 'lan' | 'direct' | 'reverse' | 'punch';

/** 32-bit FNV-1a of an address, so "same public address" can usually be ruled out without the string. */
export function hostKeyOf(host: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < host.length; i++) h = Math.imul(h ^ host.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * How `requester` gets a session with `peer`, or null when it cannot. `sameAddress` may be passed when
 * the caller already knows whether both are behind one public address.
 */
export function reachableHow(
  requester: Pick<PeerRecord, 'reach' | 'address'>,
  peer: PeerRecord,
  sameAddress = requester.address.host === peer.address.host,
): ReachableHow | null {
  if (sameAddress && peer.candidates.some((c) => c.type === 'host')) return 'lan';
  if (peer.reach === 'open') return 'direct';
  if (requester.reach === 'open') return 'reverse';
  if (requester.reach === 'punchable' && peer.reach === 'punchable') return 'punch';
  return null;
}

export function tierOf(
  a: Locality,
  b: Pick<PeerRecord, 'address' | 'isp' | 'region'>,
  sameAddress = a.publicIp === b.address.host,
): Tier {
  if (sameAddress) return 'lan';
  const sameIsp = a.isp !== null && a.isp === b.isp;
  const sameRegion = a.region !== null && a.region === b.region;
  if (sameIsp && sameRegion) return 'isp-region';
  if (sameIsp) return 'isp';
  if (sameRegion) return 'region';
  return 'internet';
}

/**
 * Families of buckets within one release swarm: who can be handed to whom.
 * - `pz`: agents reachable over the PZ transport (the agent API's peer lists);
 * - `bt`: stock BitTorrent clients that came in through the standard announce (TCP wire);
 * - `tcp`: agents that also listen for the TCP BitTorrent wire (they sent `tcpPort`).
 */
export type BucketFamily = 'pz' | 'bt' | 'tcp';
const FAMILY_PREFIX: Record<BucketFamily, string> = { pz: '', bt: 'bt/', tcp: 'tcp/' };

function buildBucketName(tier: Tier, loc: Locality, reach: ReachClass, family: BucketFamily): string | null {
  const f = FAMILY_PREFIX[family];
  switch (tier) {
    case 'lan':
      return `${f}ip:${loc.publicIp}:${reach}`;
    case 'isp-region':
      return loc.isp !== null && loc.region !== null ? `${f}ir:${loc.isp}|${loc.region}:${reach}` : null;
    case 'isp':
      return loc.isp !== null ? `${f}i:${loc.isp}:${reach}` : null;
    case 'region':
      return loc.region !== null ? `${f}r:${loc.region}:${reach}` : null;
    case 'internet':
      return `${f}*:${reach}`;
  }
}

/** Whether a bucket name is a `lan`-tier one (one bucket per public address), in any family. */
export function isAddressBucket(name: string): boolean {
  return name.startsWith('ip:') || name.startsWith('bt/ip:') || name.startsWith('tcp/ip:');
}

const FAMILIES: readonly BucketFamily[] = ['pz', 'bt', 'tcp'];
const REACH_CLASSES: readonly ReachClass[] = ['open', 'punchable', 'hard'];
const TIER_INDEX: Record<Tier, number> = { lan: 0, 'isp-region': 1, isp: 2, region: 3, internet: 4 };
const FAMILY_INDEX: Record<BucketFamily, number> = { pz: 0, bt: 1, tcp: 2 };
const REACH_INDEX: Record<ReachClass, number> = { open: 0, punchable: 1, hard: 2 };
/** Every announce names a dozen buckets twice (filing, then sampling): names are built once per ISP and region. */
const nameCache = new Map<string, Map<string, ReadonlyArray<string | null>>>();
const NAME_CACHE_LIMIT = 4_096;
let cachedNames = 0;

function namesFor(isp: string | null, region: string | null): ReadonlyArray<string | null> {
  let byRegion = nameCache.get(isp ?? '');
  const names = byRegion?.get(region ?? '');
  if (names) return names;
  // Agent hints can name any ISP: the cache is bounded, and simply starts over when full.
  if (cachedNames >= NAME_CACHE_LIMIT) {
    nameCache.clear();
    cachedNames = 0;
    byRegion = undefined;
  }
  const loc: Locality = { publicIp: '', isp, region, asn: null };
  const built: Array<string | null> = [];
  for (const tier of TIERS)
    for (const family of FAMILIES)
      for (const reach of REACH_CLASSES)
        built.push(tier === 'lan' ? null : buildBucketName(tier, loc, reach, family));
  if (!byRegion) {
    byRegion = new Map();
    nameCache.set(isp ?? '', byRegion);
  }
  byRegion.set(region ?? '', built);
  cachedNames++;
  return built;
}

/** Bucket holding peers of one reach class at one tier, as seen from `loc`; null if `loc` lacks the key. */
export function bucketFor(
  tier: Tier,
  loc: Locality,
  reach: ReachClass,
  family: BucketFamily = 'pz',
): string | null {
  if (tier === 'lan') return buildBucketName(tier, loc, reach, family);
  // The cache keys null as '': a real empty name (should one ever come) bypasses the cache.
  if (loc.isp === '' || loc.region === '') return buildBucketName(tier, loc, reach, family);
  const names = namesFor(loc.isp, loc.region);
  return names[TIER_INDEX[tier] * 9 + FAMILY_INDEX[family] * 3 + REACH_INDEX[reach]] as string | null;
}

export const SEEDER_BUCKET = 'seeders';
export const LEECHER_BUCKET = 'leechers';

/**
 * Every bucket a peer is filed under: the scrape counter (seeders or leechers), then one bucket per
 * tier it can be found at in each family it belongs to.
 */
export function bucketsOf(
  loc: Locality,
  reach: ReachClass,
  seeder: boolean,
  families: readonly BucketFamily[] = ['pz'],
): string[] {
  const out: string[] = [seeder ? SEEDER_BUCKET : LEECHER_BUCKET];
  for (const family of families)
    for (const tier of TIERS) {
      const b = bucketFor(tier, loc, family === 'pz' ? reach : 'open', family);
      if (b !== null) out.push(b);
    }
  return out;
}
