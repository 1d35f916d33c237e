import type { Random } from '../runtime/index.ts';
import { SwarmlaneError } from '../runtime/index.ts';
import { hostKeyOf, isAddressBucket } from './locality.ts';
import type { PeerCandidate, PeerRecord, ReachClass } from './swarm-store.ts';

/**
 * The members of one swarm, struct-of-arrays. With 100,000 peers, one object graph per peer (record,
 * address, candidate list, bucket bookkeeping) made the collector the tracker's biggest cost: every
 * re-announce replaced a record that old objects pointed to, so each one was promoted and then marked.
 * Here a peer is a slot number: its numbers sit in one interleaved Float64Array (one cache line per
 * peer), its strings and candidate list in one interleaved array, and buckets, the pruning order and
 * bucket positions are typed arrays of slot numbers. A re-announce that changes nothing but counters
 * writes numbers in place; strings and lists that compare equal are kept, so the old generation gains
 * no pointer to a new object and nothing is promoted.
 */

/** Numbers per slot, interleaved (8 x 8 bytes: one cache line). */
const NUM = 8;
const N_FLAGS = 0;
const N_LOAD = 1;
const N_HAVE = 2;
/** port * 2^17 + (TCP-wire port + 1), the latter 0 when the peer has none. */
const N_PORTS = 3;
/** hostKeyOf(address.host). */
const N_HOSTKEY = 4;
const N_UPLOAD = 5;
const N_SEEN = 6;
/** -1 for a null ASN. */
const N_ASN = 7;

/** References per slot, interleaved. */
const REF = 8;
const R_ID = 0;
const R_HOST = 1;
const R_KEY = 2;
const R_BITFIELD = 3;
const R_CANDIDATES = 4;
const R_FRAGMENT = 5;
const R_ISP = 6;
const R_REGION = 7;

const PORT_SHIFT = 2 ** 17;
const F_SEEDER = 4;
const F_STOCK = 8;
const REACHES: readonly ReachClass[] = ['open', 'punchable', 'hard'];
const reachCode = (r: ReachClass): number => (r === 'open' ? 0 : r === 'punchable' ? 1 : 2);

/** Buckets a peer may be filed under at once (scrape counter + 5 tiers x 3 families = 16). */
export const MAX_BUCKETS_PER_PEER = 24;
const NONE = -1;

class StoreLimitError extends SwarmlaneError {
  constructor(message: string) {
    super('STORE_LIMIT', message);
  }
}

/**
 * Slot numbers of one bucket; `ks[i]` is which of its buckets `slots[i]`'s membership entry is. Plain
 * arrays of small integers, not typed arrays: most buckets (one per public address) hold a peer or
 * two, and 100,000 tiny ArrayBuffers cost the collector more than the integers they hold.
 */
interface Bucket {
  name: string;
  slots: number[];
  ks: number[];
}

function sameCandidates(a: readonly PeerCandidate[], b: readonly PeerCandidate[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as PeerCandidate;
    const y = b[i] as PeerCandidate;
    if (x.type !== y.type || x.host !== y.host || x.port !== y.port) return false;
  }
  return true;
}

export class PeerSlots {
  readonly createdAt: number;
  private capacity = 0;
  private num = new Float64Array(0);
  private readonly refs: unknown[] = [];
  /** Per slot and membership k: bucket number and position in that bucket. */
  private memberBucket = new Int32Array(0);
  private memberPos = new Int32Array(0);
  private memberCount = new Uint8Array(0);
  /** Doubly linked list of live slots, least recently announced first (pruning walks from the head). */
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private head = NONE;
  private tail = NONE;
  private used = 0;
  private readonly free: number[] = [];
  private readonly byId = new Map<string, number>();
  /**
   * Bucket numbers by name, in two maps: one bucket per public address makes the per-address map as
   * large as the swarm, and a lookup in it costs cache misses; the shared buckets (ISP, region,
   * internet, scrape counters) that every announce names a dozen times stay in a small, warm map.
   */
  private readonly bucketByName = new Map<string, number>();
  private readonly addressBucketByName = new Map<string, number>();
  private readonly buckets: Array<Bucket | undefined> = [];
  /** Numbers of buckets that emptied and were dropped (addresses come and go: no bucket outlives its peers). */
  private readonly freeBuckets: number[] = [];
  /** Scratch for one upsert's distinct bucket names. */
  private readonly names: string[] = [];

  constructor(createdAt: number) {
    this.createdAt = createdAt;
    this.grow(64);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Buckets with at least one member (empty ones are dropped). */
  get bucketCount(): number {
    return this.bucketByName.size + this.addressBucketByName.size;
  }

  private mapFor(name: string): Map<string, number> {
    return isAddressBucket(name) ? this.addressBucketByName : this.bucketByName;
  }

  private grow(to: number): void {
    const grownNum = new Float64Array(to * NUM);
    grownNum.set(this.num);
    this.num = grownNum;
    const mb = new Int32Array(to * MAX_BUCKETS_PER_PEER);
    mb.set(this.memberBucket);
    this.memberBucket = mb;
    const mp = new Int32Array(to * MAX_BUCKETS_PER_PEER);
    mp.set(this.memberPos);
    this.memberPos = mp;
    const mc = new Uint8Array(to);
    mc.set(this.memberCount);
    this.memberCount = mc;
    const pv = new Int32Array(to);
    pv.set(this.prev);
    this.prev = pv;
    const nx = new Int32Array(to);
    nx.set(this.next);
    this.next = nx;
    this.capacity = to;
  }

  private bucketNumber(name: string, create: boolean): number {
    const map = this.mapFor(name);
    let b = map.get(name);
    if (b === undefined) {
      if (!create) return NONE;
      b = this.freeBuckets.pop() ?? this.buckets.length;
      this.buckets[b] = { name, slots: [], ks: [] };
      map.set(name, b);
    }
    return b;
  }

  private fileUnder(slot: number, k: number, b: number): void {
    const bucket = this.buckets[b] as Bucket;
    const at = slot * MAX_BUCKETS_PER_PEER + k;
    this.memberBucket[at] = b;
    this.memberPos[at] = bucket.slots.length;
    bucket.slots.push(slot);
    bucket.ks.push(k);
  }

  /** Swap-remove: the bucket's last member takes the freed position. */
  private unfile(slot: number, k: number): void {
    const at = slot * MAX_BUCKETS_PER_PEER + k;
    const b = this.memberBucket[at] as number;
    const bucket = this.buckets[b] as Bucket;
    const pos = this.memberPos[at] as number;
    const movedSlot = bucket.slots.pop() as number;
    const movedK = bucket.ks.pop() as number;
    if (pos !== bucket.slots.length) {
      bucket.slots[pos] = movedSlot;
      bucket.ks[pos] = movedK;
      this.memberPos[movedSlot * MAX_BUCKETS_PER_PEER + movedK] = pos;
    } else if (pos === 0) {
      this.mapFor(bucket.name).delete(bucket.name);
      this.buckets[b] = undefined;
      this.freeBuckets.push(b);
    }
  }

  private unlink(slot: number): void {
    const p = this.prev[slot] as number;
    const n = this.next[slot] as number;
    if (p === NONE) this.head = n;
    else this.next[p] = n;
    if (n === NONE) this.tail = p;
    else this.prev[n] = p;
  }

  private linkLast(slot: number): void {
    this.prev[slot] = this.tail;
    this.next[slot] = NONE;
    if (this.tail === NONE) this.head = slot;
    else this.next[this.tail] = slot;
    this.tail = slot;
  }

  /** Keeps the stored reference when the new value is equal, so the old generation gains no new pointer. */
  private setRef(at: number, value: unknown): void {
    if (this.refs[at] !== value) this.refs[at] = value;
  }

  /** Stores a peer; returns its slot (its `storeKey` while it stays). */
  upsert(peer: PeerRecord, bucketNames: readonly string[]): number {
    const names = this.names;
    for (const name of bucketNames) if (!names.includes(name)) names.push(name);
    const count = names.length;
    if (count > MAX_BUCKETS_PER_PEER) {
      names.length = 0;
      throw new StoreLimitError(`a peer may be filed under at most ${MAX_BUCKETS_PER_PEER} buckets`);
    }
    let slot = this.byId.get(peer.peerId);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.used++;
      if (slot >= this.capacity) this.grow(this.capacity * 2);
      this.byId.set(peer.peerId, slot);
      this.refs[slot * REF + R_ID] = peer.peerId;
      this.memberCount[slot] = 0;
    } else {
      this.unlink(slot);
    }
    this.linkLast(slot);
    // Buckets: unchanged lists (the usual re-announce) are left alone.
    const base = slot * MAX_BUCKETS_PER_PEER;
    const had = this.memberCount[slot] as number;
    let same = had === count;
    for (let k = 0; same && k < count; k++)
      same = this.memberBucket[base + k] === this.bucketNumber(names[k] as string, false);
    if (!same) {
      // Leave first (a bucket this peer was alone in is dropped), then join by name.
      for (let k = 0; k < had; k++) this.unfile(slot, k);
      for (let k = 0; k < count; k++) this.fileUnder(slot, k, this.bucketNumber(names[k] as string, true));
      this.memberCount[slot] = count;
    }
    names.length = 0;
    const n = slot * NUM;
    const num = this.num;
    num[n + N_FLAGS] = reachCode(peer.reach) | (peer.seeder ? F_SEEDER : 0) | (peer.stock ? F_STOCK : 0);
    num[n + N_LOAD] = peer.load;
    num[n + N_HAVE] = peer.have;
    num[n + N_PORTS] = peer.address.port * PORT_SHIFT + (peer.tcpPort ?? -1) + 1;
    num[n + N_HOSTKEY] = hostKeyOf(peer.address.host);
    num[n + N_UPLOAD] = peer.uploadCapacity;
    num[n + N_SEEN] = peer.lastSeen;
    num[n + N_ASN] = peer.asn ?? -1;
    const r = slot * REF;
    this.setRef(r + R_HOST, peer.address.host);
    this.setRef(r + R_KEY, peer.publicKey);
    this.setRef(r + R_BITFIELD, peer.bitfield);
    const old = this.refs[r + R_CANDIDATES] as PeerCandidate[] | undefined;
    if (old === undefined || !sameCandidates(old, peer.candidates))
      this.refs[r + R_CANDIDATES] = peer.candidates;
    this.setRef(r + R_FRAGMENT, peer.answerFragment);
    this.setRef(r + R_ISP, peer.isp);
    this.setRef(r + R_REGION, peer.region);
    return slot;
  }

  remove(peerId: string): boolean {
    const slot = this.byId.get(peerId);
    if (slot === undefined) return false;
    const had = this.memberCount[slot] as number;
    for (let k = 0; k < had; k++) this.unfile(slot, k);
    this.memberCount[slot] = 0;
    this.unlink(slot);
    this.byId.delete(peerId);
    this.refs.fill(undefined, slot * REF, slot * REF + REF);
    this.free.push(slot);
    return true;
  }

  get(peerId: string): PeerRecord | null {
    const slot = this.byId.get(peerId);
    return slot === undefined ? null : this.record(slot, false);
  }

  /**
   * A fresh record of a slot's current state (callers may keep it; the slot may be reused later).
   * Samples are stamped with the slot and address hash for selection; `get` answers the record as stored.
   */
  private record(slot: number, stamped = true): PeerRecord {
    const n = slot * NUM;
    const r = slot * REF;
    const num = this.num;
    const refs = this.refs;
    const flags = num[n + N_FLAGS] as number;
    const ports = num[n + N_PORTS] as number;
    const port = Math.floor(ports / PORT_SHIFT);
    const tcp = ports - port * PORT_SHIFT - 1;
    const asn = num[n + N_ASN] as number;
    return {
      peerId: refs[r + R_ID] as string,
      address: { host: refs[r + R_HOST] as string, port },
      isp: refs[r + R_ISP] as string | null,
      region: refs[r + R_REGION] as string | null,
      asn: asn < 0 ? null : asn,
      reach: REACHES[flags & 3] as ReachClass,
      seeder: (flags & F_SEEDER) !== 0,
      have: num[n + N_HAVE] as number,
      bitfield: refs[r + R_BITFIELD] as string | undefined,
      candidates: refs[r + R_CANDIDATES] as PeerCandidate[],
      publicKey: refs[r + R_KEY] as string | undefined,
      tcpPort: tcp < 0 ? undefined : tcp,
      stock: (flags & F_STOCK) !== 0 ? true : undefined,
      load: num[n + N_LOAD] as number,
      uploadCapacity: num[n + N_UPLOAD] as number,
      lastSeen: num[n + N_SEEN] as number,
      answerFragment: refs[r + R_FRAGMENT] as string | undefined,
      storeKey: stamped ? slot : undefined,
      hostKey: stamped ? (num[n + N_HOSTKEY] as number) : undefined,
    };
  }

  count(bucketName: string): number {
    const b = this.bucketNumber(bucketName, false);
    return b === NONE ? 0 : (this.buckets[b] as Bucket).slots.length;
  }

  /** Up to `count` distinct random members of a bucket, cost O(count). */
  sample(bucketName: string, count: number, random: Random): PeerRecord[] {
    const b = this.bucketNumber(bucketName, false);
    if (b === NONE || count <= 0) return [];
    const bucket = this.buckets[b] as Bucket;
    const n = bucket.slots.length;
    const out: PeerRecord[] = [];
    if (count * 2 >= n) {
      // Partial Fisher-Yates over a copy: the bucket's order is swap-remove bookkeeping, not to be touched.
      const copy = bucket.slots.slice(0, n);
      const take = Math.min(count, n);
      for (let i = 0; i < take; i++) {
        const j = i + random.int(n - i);
        const s = copy[j] as number;
        copy[j] = copy[i] as number;
        out.push(this.record(s));
      }
      return out;
    }
    // Rejection sampling: count is small against the bucket, so collisions are rare.
    const picked: number[] = [];
    while (picked.length < count) {
      const i = random.int(n);
      if (!picked.includes(i)) picked.push(i);
    }
    for (const i of picked) out.push(this.record(bucket.slots[i] as number));
    return out;
  }

  /** Removes up to `max` peers last announced before `cutoff`, oldest first. */
  prune(cutoff: number, max: number): number {
    let removed = 0;
    while (removed < max && this.head !== NONE) {
      const slot = this.head;
      if ((this.num[slot * NUM + N_SEEN] as number) >= cutoff) break;
      this.remove(this.refs[slot * REF + R_ID] as string);
      removed++;
    }
    return removed;
  }
}
