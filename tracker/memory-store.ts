import type { Random } from '../runtime/index.ts';
import { PeerSlots } from './peer-slots.ts';
import type { ClaimResult, EdgeRecord, LocalPeerReader, SwarmStore } from './swarm-store.ts';

export interface MemorySwarmStoreOptions {
  /** Sampling randomness; seed it for reproducible selection. */
  random: Random;
  /** Creation time source for swarms (the tracker passes its clock's `now`). */
  now: () => number;
}

/** Embedded default store: everything in this process (swarm members in peer-slots.ts). */
export function createMemorySwarmStore(options: MemorySwarmStoreOptions): SwarmStore {
  const swarms = new Map<string, PeerSlots>();
  const devices = new Map<string, string>();
  const edges = new Map<string, EdgeRecord>();
  const documents = new Map<string, { value: string; version: number }>();
  const counters = new Map<string, Map<string, number>>();

  const swarmFor = (swarm: string): PeerSlots => {
    let s = swarms.get(swarm);
    if (!s) {
      s = new PeerSlots(options.now());
      swarms.set(swarm, s);
    }
    return s;
  };

  const local: LocalPeerReader = {
    samplePeers: (swarm, bucket, count) => swarms.get(swarm)?.sample(bucket, count, options.random) ?? [],
    countBucket: (swarm, bucket) => swarms.get(swarm)?.count(bucket) ?? 0,
  };

  return {
    local,
    async upsertPeer(swarm, peer, buckets) {
      const s = swarmFor(swarm);
      const storeKey = s.upsert(peer, buckets);
      return { swarmCreatedAt: s.createdAt, storeKey };
    },
    async removePeer(swarm, peerId) {
      swarms.get(swarm)?.remove(peerId);
    },
    async getPeer(swarm, peerId) {
      return swarms.get(swarm)?.get(peerId) ?? null;
    },
    async samplePeers(swarm, bucket, count) {
      return local.samplePeers(swarm, bucket, count);
    },
    async countBucket(swarm, bucket) {
      return local.countBucket(swarm, bucket);
    },
    async pruneSwarm(swarm, cutoff, max) {
      return swarms.get(swarm)?.prune(cutoff, max) ?? 0;
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
