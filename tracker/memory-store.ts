import type { Random } from '../runtime/index.ts';
import type { ClaimResult, EdgeRecord, PeerRecord, SwarmStore } from './swarm-store.ts';

/** One swarm member: its record and, per bucket it is filed under, the set and its slot there. */
interface Entry {
  record: PeerRecord;
  buckets: readonly string[];
  sets: SampleSet[];
  /** `slots[k]` is this entry's index in `sets[k].items`. */
  slots: number[];
}

/**
 * A bucket: records with O(1) insert, delete and uniform random pick (array + swap-remove). Entries
 * remember their own slots, so no per-bucket index map is needed (with 100,000 peers in six buckets
 * each, those maps were much of the store's memory and of the collector's work), and a re-announce
 * that keeps its buckets only overwrites its slots.
 */
class SampleSet {
  /** The records themselves, so sampling touches nothing else (this matters with 100,000 peers). */
  readonly items: PeerRecord[] = [];
  /** `owners[i]` is the entry of `items[i]`, for swap-remove bookkeeping. */
  private readonly owners: Entry[] = [];

  get size(): number {
    return this.items.length;
  }

  add(entry: Entry, k: number): void {
    entry.slots[k] = this.items.length;
    this.items.push(entry.record);
    this.owners.push(entry);
  }

  remove(entry: Entry, k: number): void {
    const at = entry.slots[k] as number;
    const last = this.owners.pop() as Entry;
    const lastRecord = this.items.pop() as PeerRecord;
    if (last !== entry) {
      this.items[at] = lastRecord;
      this.owners[at] = last;
      last.slots[last.sets.indexOf(this)] = at;
    }
  }

  /** Up to `count` distinct members, cost O(count) (rejection sampling while count is small vs size). */
  sample(count: number, random: Random): PeerRecord[] {
    const n = this.items.length;
    if (count <= 0 || n === 0) return [];
    if (count * 2 >= n) {
      const copy = this.items.slice();
      for (let i = copy.length - 1; i > 0; i--) {
        const j = random.int(i + 1);
        [copy[i], copy[j]] = [copy[j] as PeerRecord, copy[i] as PeerRecord];
      }
      return copy.length > count ? copy.slice(0, count) : copy;
    }
    const picked = new Set<number>();
    while (picked.size < count) picked.add(random.int(n));
    const out: PeerRecord[] = [];
    for (const i of picked) out.push(this.items[i] as PeerRecord);
    return out;
  }
}

interface MemorySwarm {
  createdAt: number;
  peers: Map<string, Entry>;
  buckets: Map<string, SampleSet>;
  /** Insertion-ordered by last announce (re-inserted on update), so pruning walks the oldest first. */
  bySeen: Map<string, number>;
}

export interface MemorySwarmStoreOptions {
  /** Sampling randomness; seed it for reproducible selection. */
  random: Random;
  /** Creation time source for swarms (the tracker passes its clock's `now`). */
  now: () => number;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Embedded default store: everything in this process. */
export function createMemorySwarmStore(options: MemorySwarmStoreOptions): SwarmStore {
  const swarms = new Map<string, MemorySwarm>();
  const devices = new Map<string, string>();
  const edges = new Map<string, EdgeRecord>();
  const documents = new Map<string, { value: string; version: number }>();
  const counters = new Map<string, Map<string, number>>();

  const swarmFor = (swarm: string): MemorySwarm => {
    let s = swarms.get(swarm);
    if (!s) {
      s = { createdAt: options.now(), peers: new Map(), buckets: new Map(), bySeen: new Map() };
      swarms.set(swarm, s);
    }
    return s;
  };

  const removeFrom = (s: MemorySwarm, peerId: string): void => {
    const existing = s.peers.get(peerId);
    if (!existing) return;
    for (let k = 0; k < existing.sets.length; k++) existing.sets[k]?.remove(existing, k);
    s.peers.delete(peerId);
    s.bySeen.delete(peerId);
  };

  const setFor = (s: MemorySwarm, bucket: string): SampleSet => {
    let set = s.buckets.get(bucket);
    if (!set) {
      set = new SampleSet();
      s.buckets.set(bucket, set);
    }
    return set;
  };

  return {
    async upsertPeer(swarm, peer, buckets) {
      const s = swarmFor(swarm);
      const existing = s.peers.get(peer.peerId);
      // The store keeps the caller's object (no copy): callers hand over fresh records and never
      // mutate records they get back.
      if (existing && sameList(existing.buckets, buckets)) {
        // Re-announces usually keep their buckets: only the record changes, slot by slot.
        existing.record = peer;
        existing.sets.forEach((set, k) => {
          set.items[existing.slots[k] as number] = peer;
        });
      } else {
        if (existing) for (let k = 0; k < existing.sets.length; k++) existing.sets[k]?.remove(existing, k);
        const entry: Entry = { record: peer, buckets: [...new Set(buckets)], sets: [], slots: [] };
        entry.buckets.forEach((b, k) => {
          const set = setFor(s, b);
          entry.sets.push(set);
          set.add(entry, k);
        });
        s.peers.set(peer.peerId, entry);
      }
      s.bySeen.delete(peer.peerId);
      s.bySeen.set(peer.peerId, peer.lastSeen);
      return { swarmCreatedAt: s.createdAt };
    },
    async removePeer(swarm, peerId) {
      const s = swarms.get(swarm);
      if (s) removeFrom(s, peerId);
    },
    async getPeer(swarm, peerId) {
      return swarms.get(swarm)?.peers.get(peerId)?.record ?? null;
    },
    async samplePeers(swarm, bucket, count) {
      return swarms.get(swarm)?.buckets.get(bucket)?.sample(count, options.random) ?? [];
    },
    async countBucket(swarm, bucket) {
      return swarms.get(swarm)?.buckets.get(bucket)?.size ?? 0;
    },
    async pruneSwarm(swarm, cutoff, max) {
      const s = swarms.get(swarm);
      if (!s) return 0;
      const stale: string[] = [];
      for (const [id, seen] of s.bySeen) {
        if (stale.length >= max || seen >= cutoff) break;
        stale.push(id);
      }
      for (const id of stale) removeFrom(s, id);
      return stale.length;
    },
    async claimDevice(deviceId, tokenHash): Promise<ClaimResult> {
      const held = devices.get(deviceId);
      if (held === undefined) {
        devices.set(deviceId, tokenHash);
        return 'created';
      }
      return held === tokenHash ? 'ok' : 'mismatch';
    },
    async releaseDevice(deviceId, tokenHash) {
      if (devices.get(deviceId) === tokenHash) devices.delete(deviceId);
    },
    async putEdge(edge) {
      edges.set(edge.id, structuredClone(edge));
    },
    async getEdge(id) {
      const edge = edges.get(id);
      return edge ? structuredClone(edge) : null;
    },
    async listEdges() {
      return [...edges.values()].map((e) => structuredClone(e));
    },
    async removeEdge(id) {
      edges.delete(id);
    },
    async getDocument<T>(key: string) {
      const doc = documents.get(key);
      return doc ? { value: JSON.parse(doc.value) as T, version: doc.version } : null;
    },
    async putDocument(key, value, expectedVersion) {
      const doc = documents.get(key);
      if ((doc?.version ?? null) !== expectedVersion) return false;
      documents.set(key, { value: JSON.stringify(value), version: (doc?.version ?? 0) + 1 });
      return true;
    },
    async listDocuments(prefix) {
      return [...documents.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
    async addCounters(group, deltas) {
      let map = counters.get(group);
      if (!map) {
        map = new Map();
        counters.set(group, map);
      }
      for (const [field, delta] of Object.entries(deltas)) map.set(field, (map.get(field) ?? 0) + delta);
    },
    async getCounters(group) {
      return Object.fromEntries(counters.get(group) ?? []);
    },
    async close() {},
  };
}
