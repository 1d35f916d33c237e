import {
  type BucketFamily,
  bucketFor,
  hostKeyOf,
  type Locality,
  type PeeringScope,
  type ReachableHow,
  reachableHow,
  SCOPE_TIERS,
  type Tier,
  tierOf,
} from './locality.ts';
import type { PeerRecord, ReachClass, SwarmStore } from './swarm-store.ts';

export interface SelectionOptions {
  /** Widest tier the answer may use. */
  scope: PeeringScope;
  /**
   * Cross-ISP "bridge" peers per answer, so no ISP island starves: ceil(numwant / bridgeEvery),
   * capped at maxBridges. Only when the scope allows other ISPs.
   */
  bridgeEvery: number;
  maxBridges: number;
  /** Sample this many times the needed count from a bucket, then keep the least loaded. */
  oversample: number;
  /**
   * `locality` (default): the tiered, reachability-aware choice above. `random`: what a plain
   * BitTorrent tracker does (uniform random peers, reachable or not, within the scope's widest tier),
   * kept as a baseline for lab comparisons.
   */
  mode?: 'locality' | 'random';
  /**
   * Bucket families to draw from (locality.ts): `pz` (default) for agent peer lists; `bt` and `tcp`
   * for TCP-wire peers (stock clients, agents with a TCP port), which are all filed as `open`.
   */
  families?: readonly BucketFamily[];
  /**
   * Behind one public address, peers whose LAN addresses are private (RFC 1918) per answer (default
   * 8). One public address may be one home, or a carrier-grade NAT with thousands of homes that all
   * number their LANs 192.168.1.0/24: their LAN candidates then lead nowhere (or to a namesake in
   * the requester's own home), and a device behind a symmetric NAT under a CGN was handed nothing but
   * those and found no peer at all. A home rarely holds more devices than this; peers inside the CGN
   * itself (100.64/10, routable from every home behind it) are not capped.
   */
  maxPrivateLanPeers?: number;
}

const DEFAULT_MAX_PRIVATE_LAN_PEERS = 8;

export const DEFAULT_SELECTION_OPTIONS: SelectionOptions = {
  scope: 'internet',
  bridgeEvery: 20,
  maxBridges: 3,
  oversample: 1.5,
};

export interface Requester {
  peerId: string;
  /** The requester's own `storeKey` (upsertPeer's answer), when the store stamps records with one. */
  storeKey?: number;
  locality: Locality;
  reach: ReachClass;
  seeder: boolean;
  port: number;
}

export interface SelectedPeer {
  peer: PeerRecord;
  tier: Tier;
  how: ReachableHow;
  bridge: boolean;
}

/**
 * Reach classes a requester should be given, in order of preference. Connectable (`open`) peers are
 * offered last to those who could use anyone, so they stay available to the devices that can reach
 * nothing else.
 */
export function reachPreference(reach: ReachClass): readonly ReachClass[] {
  switch (reach) {
    case 'open':
      return ['hard', 'punchable', 'open'];
    case 'punchable':
      return ['punchable', 'open'];
    case 'hard':
      return ['open'];
  }
}

const ALL_CLASSES: readonly ReachClass[] = ['hard', 'punchable', 'open'];
const OPEN_ONLY: readonly ReachClass[] = ['open'];
const PZ_ONLY: readonly BucketFamily[] = ['pz'];

/** Reach classes a family's buckets exist for, in the order they are tried at a tier. */
function classesAt(family: BucketFamily, tier: Tier, reach: ReachClass): readonly ReachClass[] {
  if (family !== 'pz') return OPEN_ONLY;
  return tier === 'lan' ? ALL_CLASSES : reachPreference(reach);
}

/**
 * TCP-wire families are often empty (no stock client in the swarm): one count of a family's widest
 * bucket spares a dozen empty samples.
 */
const anywhere: Locality = { publicIp: '', isp: null, region: null, asn: null };
const WIDEST: Record<BucketFamily, string> = {
  pz: bucketFor('internet', anywhere, 'open', 'pz') as string,
  bt: bucketFor('internet', anywhere, 'open', 'bt') as string,
  tcp: bucketFor('internet', anywhere, 'open', 'tcp') as string,
};

/** What the selection plan asks of the store: a sample of a bucket, or its size. */
type Ask = { bucket: string; count: number } | { bucket: string; count: -1 };
/** The plan yields asks and is resumed with the answer (peers for a sample, a number for a size). */
type Plan = Generator<Ask, SelectedPeer[], PeerRecord[] | number>;

/**
 * Runs a plan against a store: synchronously when the store reads locally (the memory store), so an
 * answer costs no promise per bucket; with one round trip per ask otherwise (Redis).
 */
async function run(store: SwarmStore, swarm: string, plan: Plan): Promise<SelectedPeer[]> {
  const local = store.local;
  let step = plan.next();
  while (!step.done) {
    const { bucket, count } = step.value;
    let answer: PeerRecord[] | number;
    if (local)
      answer = count < 0 ? local.countBucket(swarm, bucket) : local.samplePeers(swarm, bucket, count);
    else
      answer =
        count < 0 ? await store.countBucket(swarm, bucket) : await store.samplePeers(swarm, bucket, count);
    step = plan.next(answer);
  }
  return step.value;
}

function* nonEmptyFamilies(
  families: readonly BucketFamily[],
): Generator<Ask, readonly BucketFamily[], PeerRecord[] | number> {
  if (families.length === 1 && families[0] === 'pz') return families;
  const out: BucketFamily[] = [];
  for (const family of families)
    if (family === 'pz' || ((yield { bucket: WIDEST[family], count: -1 }) as number) > 0) out.push(family);
  return out;
}

/** One answer being assembled. */
interface Pick {
  requester: Requester;
  self: { reach: ReachClass; address: { host: string; port: number } };
  selfHostKey: number;
  chosen: SelectedPeer[];
  /** Peers already chosen (and the requester), by `storeKey` when records carry one, else by id. */
  seen: Set<string | number>;
  /** `lan` peers with only private (RFC 1918) LAN addresses this answer may still take. */
  privateLanLeft: number;
}

/** 10/8, 172.16/12, 192.168/16: a home LAN's own numbering, not routable beyond its gateway. */
function isRfc1918(host: string): boolean {
  if (host.startsWith('10.') || host.startsWith('192.168.')) return true;
  if (!host.startsWith('172.')) return false;
  const second = Number(host.split('.')[1]);
  return second >= 16 && second <= 31;
}

/** A peer reached over a LAN whose every LAN address is a home's private numbering. */
function privateLanOnly(peer: PeerRecord): boolean {
  let any = false;
  for (const c of peer.candidates) {
    if (c.type !== 'host') continue;
    if (!isRfc1918(c.host)) return false;
    any = true;
  }
  return any;
}

/** Whether a peer is behind the requester's public address; the string is read only on a hash match. */
function sameAddress(pick: Pick, peer: PeerRecord): boolean {
  if (peer.hostKey !== undefined && peer.hostKey !== pick.selfHostKey) return false;
  return peer.address.host === pick.self.address.host;
}

/** The requester itself, when `seen` cannot tell (records carry store keys, the requester brought none). */
function isSelf(pick: Pick, peer: PeerRecord): boolean {
  // Records without a store key were checked against the requester's id through `seen`; so were all
  // when the requester brought its own key.
  if (peer.storeKey === undefined || pick.requester.storeKey !== undefined) return false;
  // The requester's own record is filed under the address it announced from, its locality's.
  return sameAddress(pick, peer) && peer.peerId === pick.requester.peerId;
}

/**
 * Keeps the least loaded usable peers of a sample. Buckets outside the `lan` tier only hold reach
 * classes the requester can reach (reachPreference), so only `lan` samples need the reach check:
 * with 100,000 peers, every field read of a sampled record is a likely cache miss.
 */
function take(pick: Pick, sample: PeerRecord[], limit: number, bridge: boolean, checkReach: boolean): void {
  const { requester, self, chosen, seen } = pick;
  const room = limit - chosen.length;
  if (room <= 0) return;
  const usable: PeerRecord[] = [];
  for (const peer of sample) {
    if (requester.seeder && peer.seeder) continue; // seeders have nothing to give each other
    if (seen.has(peer.storeKey ?? peer.peerId) || isSelf(pick, peer)) continue;
    if (checkReach && reachableHow(self, peer) === null) continue;
    usable.push(peer);
  }
  usable.sort(byLoad); // least loaded first, also within the answer
  for (let i = 0, taken = 0; i < usable.length && taken < room; i++) {
    const peer = usable[i] as PeerRecord;
    const local = sameAddress(pick, peer);
    const how = reachableHow(self, peer, local);
    if (how === null) continue; // cannot happen outside `lan` samples; kept as a guard
    if (how === 'lan' && privateLanOnly(peer)) {
      if (pick.privateLanLeft <= 0) continue;
      pick.privateLanLeft--;
    }
    seen.add(peer.storeKey ?? peer.peerId);
    chosen.push({ peer, tier: tierOf(requester.locality, peer, local), how, bridge });
    taken++;
  }
}

const byLoad = (a: PeerRecord, b: PeerRecord) => a.load - b.load;

function* fill(
  pick: Pick,
  quota: number,
  tiers: readonly Tier[],
  families: readonly BucketFamily[],
  oversample: number,
): Generator<Ask, void, PeerRecord[] | number> {
  const { requester, chosen } = pick;
  for (const tier of tiers)
    for (const family of families)
      for (const reach of classesAt(family, tier, requester.reach)) {
        const need = quota - chosen.length;
        if (need <= 0) return;
        const bucket = bucketFor(tier, requester.locality, reach, family);
        if (bucket === null) continue;
        const sample = (yield { bucket, count: Math.ceil(need * oversample) + 1 }) as PeerRecord[];
        take(pick, sample, quota, false, tier === 'lan');
      }
}

/**
 * Picks up to `numwant` peers for a requester: most local tier first, reachable classes only (behind
 * one public address every class is reachable over the LAN), least loaded first within a sample, plus a
 * few cross-ISP bridges. Only bounded bucket samples are read, so the cost does not grow with the
 * swarm. Randomness comes from the store's sampling (seeded in the memory store).
 */
export function selectPeers(
  store: SwarmStore,
  swarm: string,
  requester: Requester,
  numwant: number,
  options: SelectionOptions,
): Promise<SelectedPeer[]> {
  if (numwant <= 0) return Promise.resolve([]);
  const plan =
    options.mode === 'random'
      ? planRandom(requester, numwant, options)
      : planLocality(requester, numwant, options);
  return run(store, swarm, plan);
}

function* planLocality(requester: Requester, numwant: number, options: SelectionOptions): Plan {
  const pick: Pick = {
    requester,
    self: { reach: requester.reach, address: { host: requester.locality.publicIp, port: requester.port } },
    selfHostKey: hostKeyOf(requester.locality.publicIp),
    chosen: [],
    seen: new Set<string | number>([requester.peerId]),
    privateLanLeft: options.maxPrivateLanPeers ?? DEFAULT_MAX_PRIVATE_LAN_PEERS,
  };
  if (requester.storeKey !== undefined) pick.seen.add(requester.storeKey);
  const { chosen } = pick;
  const tiers = SCOPE_TIERS[options.scope];
  const families = yield* nonEmptyFamilies(options.families ?? PZ_ONLY);

  const crossIsp =
    requester.locality.isp !== null && (options.scope === 'internet' || options.scope === 'region');
  const bridges = crossIsp ? Math.min(options.maxBridges, Math.ceil(numwant / options.bridgeEvery)) : 0;
  yield* fill(pick, numwant - bridges, tiers, families, options.oversample);

  if (bridges > 0) {
    const wanted = chosen.length + bridges;
    const bridgeTiers: Tier[] = options.scope === 'internet' ? ['region', 'internet'] : ['region'];
    for (const tier of bridgeTiers)
      for (const family of families)
        for (const reach of classesAt(family, tier, requester.reach)) {
          if (chosen.length >= wanted) break;
          const bucket = bucketFor(tier, requester.locality, reach, family);
          if (bucket === null) continue;
          const sample = (yield { bucket, count: bridges * 4 }) as PeerRecord[];
          const other = sample.filter((p) => p.isp !== requester.locality.isp);
          take(pick, other, wanted, true, false);
        }
  }
  // Not enough bridges (or locals) found: top up from the ordinary tiers.
  if (chosen.length < numwant) yield* fill(pick, numwant, tiers, families, options.oversample);
  return chosen;
}

/**
 * Plain-BitTorrent baseline, what a stock tracker does: peers drawn uniformly at random from the widest
 * tier the scope allows (each bucket gets its share of the answer in proportion to its size), with no
 * locality or reachability reasoning. Every peer is presented the stock way: tier `internet`, dialled
 * `direct` at the address the tracker observed (the route drops all other candidates).
 */
function* planRandom(requester: Requester, numwant: number, options: SelectionOptions): Plan {
  const tiers = SCOPE_TIERS[options.scope];
  const widest = tiers[tiers.length - 1] as Tier;
  const buckets: Array<{ bucket: string; size: number }> = [];
  let total = 0;
  for (const family of options.families ?? PZ_ONLY)
    for (const reach of family === 'pz' ? ALL_CLASSES : OPEN_ONLY) {
      const bucket = bucketFor(widest, requester.locality, reach, family);
      if (bucket === null) continue;
      const size = (yield { bucket, count: -1 }) as number;
      if (size === 0) continue;
      buckets.push({ bucket, size });
      total += size;
    }
  const out: SelectedPeer[] = [];
  if (total === 0) return out;
  // Shares in proportion to bucket sizes (largest remainder), one extra slot for the requester itself.
  const target = Math.min(total, numwant + 1);
  const shares = buckets.map((b) => Math.floor((target * b.size) / total));
  let left = target - shares.reduce((a, b) => a + b, 0);
  const byRemainder = buckets
    .map((b, i) => ({ i, r: (target * b.size) / total - (shares[i] as number) }))
    .sort((a, b) => b.r - a.r);
  for (const { i } of byRemainder) {
    if (left-- <= 0) break;
    shares[i] = (shares[i] as number) + 1;
  }
  const seen = new Set<string>([requester.peerId]);
  const admit = (pool: PeerRecord[]) => {
    // Interleave the per-bucket samples by a hash of the peer id, so no bucket is favoured in the order.
    pool.sort((a, b) => hashOf(a.peerId) - hashOf(b.peerId));
    for (const peer of pool) {
      if (out.length >= numwant) break;
      if (seen.has(peer.peerId) || (requester.seeder && peer.seeder)) continue;
      seen.add(peer.peerId);
      out.push({ peer, tier: 'internet', how: 'direct', bridge: false });
    }
  };
  const pool: PeerRecord[] = [];
  for (const [i, { bucket }] of buckets.entries())
    for (const peer of (yield { bucket, count: shares[i] as number }) as PeerRecord[]) pool.push(peer);
  admit(pool);
  // Seeders skipped for a seeding requester: top up from full-size samples.
  if (out.length < numwant && requester.seeder) {
    const more: PeerRecord[] = [];
    for (const { bucket } of buckets)
      for (const peer of (yield { bucket, count: numwant }) as PeerRecord[]) more.push(peer);
    admit(more);
  }
  return out;
}

function hashOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
