import type { Address } from '../runtime/index.ts';

/**
 * How other devices can open a session to a peer.
 * - `open`: accepts unsolicited inbound traffic (public address, working port mapping, or a NAT with
 *   endpoint-independent mapping and filtering), so anyone can reach it.
 * - `punchable`: endpoint-independent mapping behind a filtering NAT; reachable by hole punching from
 *   `open` or other `punchable` peers.
 * - `hard`: address-dependent mapping (symmetric NAT) or unknown; only `open` peers are reachable.
 */
export type ReachClass = 'open' | 'punchable' | 'hard';

/** A transport address of a peer, in the NAT module's PunchCandidate format (host = LAN interface). */
export interface PeerCandidate {
  type: 'host' | 'srflx' | 'mapped' | 'prflx';
  host: string;
  port: number;
}

/** What the tracker keeps about one member of one swarm. JSON-serialisable (the Redis store stores it). */
export interface PeerRecord {
  /** Device id (agent API) or `bt/` + hex peer_id (standard announce; `/` is not allowed in device ids). */
  peerId: string;
  /** Address the tracker saw the announce come from, with the announced port. */
  address: Address;
  isp: string | null;
  region: string | null;
  asn: number | null;
  reach: ReachClass;
  seeder: boolean;
  /** Pieces held (agent) or -1 when unknown (standard clients report bytes left instead). */
  have: number;
  /** Base64 compact bitfield, when the agent sent one. */
  bitfield?: string;
  candidates: PeerCandidate[];
  /** Base64 raw X25519 transport key (agents only). */
  publicKey?: string;
  /** An agent's TCP BitTorrent-wire port; stock clients are reached at `address` itself. */
  tcpPort?: number;
  /** True for a stock BitTorrent client (came in through the standard announce). */
  stock?: boolean;
  /** 0 (idle) .. 1 (saturated): the peer's reported upload load. */
  load: number;
  /** Upload capacity in bytes/s as reported, 0 when unknown. */
  uploadCapacity: number;
  lastSeen: number;
  /**
   * This peer's part of agent answers that is the same for every requester (announce-json.ts), built
   * once when it announces instead of by every answer that hands it out.
   */
  answerFragment?: string;
  /**
   * Set by the memory store on the records it returns, never stored: the member's slot (a cheaper
   * identity than `peerId` for telling samples apart) and a hash of `address.host` (hostKeyOf), so
   * selection need not read either string of a peer it does not hand out.
   */
  storeKey?: number;
  hostKey?: number;
}

export interface EdgeRecord {
  id: string;
  address: Address;
  /** Base64 raw X25519 static key. */
  publicKey: string;
  region: string;
  /** Bytes/s the edge can serve. */
  capacity: number;
  /** 0 (idle) .. 1 (saturated). */
  load: number;
  registeredAt: number;
  lastHeartbeat: number;
}

export type ClaimResult = 'created' | 'ok' | 'mismatch';

/** Sampling and counting without a round trip, for stores whose swarms live in this process. */
export interface LocalPeerReader {
  samplePeers(swarm: string, bucket: string, count: number): PeerRecord[];
  countBucket(swarm: string, bucket: string): number;
}

/**
 * Shared state of the tracker, so several instances behind a load balancer agree on swarms, device
 * ids, edges, rollouts and byte counters. Selection only ever asks for bounded random samples of a
 * bucket, so announce cost does not depend on swarm size in either implementation.
 *
 * Records passed to `upsertPeer` are owned by the store afterwards (the memory store keeps their
 * candidate lists and strings without copying); records it returns are snapshots.
 *
 * Implementations: memory (embedded default) and Redis. Both pass test/tracker/swarm-store-compliance.
 */
export interface SwarmStore {
  /**
   * Inserts or updates a peer and files it under `buckets` (moving it out of buckets it no longer
   * belongs to). Returns when the swarm was first seen, so young swarms can get short intervals, and
   * the peer's `storeKey` when the store stamps its records with one (selection's self-exclusion).
   */
  upsertPeer(
    swarm: string,
    peer: PeerRecord,
    buckets: readonly string[],
  ): Promise<{ swarmCreatedAt: number; storeKey?: number }>;
  removePeer(swarm: string, peerId: string): Promise<void>;
  getPeer(swarm: string, peerId: string): Promise<PeerRecord | null>;
  /** Up to `count` distinct random members of a bucket. */
  samplePeers(swarm: string, bucket: string, count: number): Promise<PeerRecord[]>;
  countBucket(swarm: string, bucket: string): Promise<number>;
  /**
   * The same two reads, synchronous, when the store can answer them without I/O (the memory store):
   * selection then needs no await per bucket (a dozen per answer). Absent for remote stores.
   */
  readonly local?: LocalPeerReader;
  /** Removes up to `max` peers last seen before `cutoff`; returns how many went. */
  pruneSwarm(swarm: string, cutoff: number, max: number): Promise<number>;

  /** Binds a device id to a token hash on first use; later calls must present the same hash. */
  claimDevice(deviceId: string, tokenHash: string): Promise<ClaimResult>;
  /**
   * Undoes a claim that was `created` with this hash and never reached the device (its announce
   * failed before the answer went out); a claim held under another hash stays.
   */
  releaseDevice(deviceId: string, tokenHash: string): Promise<void>;

  putEdge(edge: EdgeRecord): Promise<void>;
  getEdge(id: string): Promise<EdgeRecord | null>;
  listEdges(): Promise<EdgeRecord[]>;
  removeEdge(id: string): Promise<void>;

  /** Opaque JSON documents with optimistic concurrency: `put` fails (false) if `expectedVersion` is stale. */
  getDocument<T>(key: string): Promise<{ value: T; version: number } | null>;
  putDocument<T>(key: string, value: T, expectedVersion: number | null): Promise<boolean>;
  listDocuments(prefix: string): Promise<string[]>;

  /** Integer counters in a named group (rollout outcomes, byte accounting). */
  addCounters(group: string, deltas: Readonly<Record<string, number>>): Promise<void>;
  getCounters(group: string): Promise<Record<string, number>>;

  close(): Promise<void>;
}
