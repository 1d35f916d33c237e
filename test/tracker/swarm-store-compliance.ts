import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EdgeRecord, PeerRecord, SwarmStore } from '../../tracker/swarm-store.ts';

/** One suite, every SwarmStore implementation (memory, Redis) must pass it. */
export function runSwarmStoreCompliance(
  name: string,
  open: () => Promise<{ store: SwarmStore; now: { value: number } }>,
): void {
  describe(`SwarmStore compliance: ${name}`, () => {
    let store: SwarmStore;
    let now: { value: number };
    beforeEach(async () => {
      ({ store, now } = await open());
    });
    afterEach(async () => {
      await store.close();
    });

    const peer = (peerId: string, over: Partial<PeerRecord> = {}): PeerRecord => ({
      peerId,
      address: { host: '10.0.0.1', port: 6881 },
      isp: 'isp-a',
      region: 'eu',
      asn: 64500,
      reach: 'open',
      seeder: false,
      have: 3,
      candidates: [{ type: 'srflx', host: '10.0.0.1', port: 6881 }],
      publicKey: 'k',
      load: 0.5,
      uploadCapacity: 1000,
      lastSeen: now.value,
      ...over,
    });

    it('stores, returns and removes peers, moving them between buckets on update', async () => {
      const created = await store.upsertPeer('s1', peer('p1'), ['a', 'b']);
      expect(await store.getPeer('s1', 'p1')).toEqual(peer('p1'));
      expect(await store.countBucket('s1', 'a')).toBe(1);
      now.value += 1000;
      const again = await store.upsertPeer('s1', peer('p1', { seeder: true }), ['b', 'c']);
      expect(again.swarmCreatedAt).toBe(created.swarmCreatedAt);
      expect(await store.countBucket('s1', 'a')).toBe(0);
      expect(await store.countBucket('s1', 'b')).toBe(1);
      expect(await store.countBucket('s1', 'c')).toBe(1);
      expect((await store.getPeer('s1', 'p1'))?.seeder).toBe(true);
      await store.removePeer('s1', 'p1');
      expect(await store.getPeer('s1', 'p1')).toBeNull();
      expect(await store.countBucket('s1', 'b')).toBe(0);
      await store.removePeer('s1', 'never-there');
    });

    it('samples distinct bucket members, bounded, from one swarm only', async () => {
      for (let i = 0; i < 30; i++) await store.upsertPeer('s1', peer(`p${i}`), [i % 2 ? 'odd' : 'even']);
      await store.upsertPeer('s2', peer('intruder'), ['odd']);
      const sample = await store.samplePeers('s1', 'odd', 10);
      expect(sample).toHaveLength(10);
      expect(new Set(sample.map((p) => p.peerId)).size).toBe(10);
      for (const p of sample) expect(Number(p.peerId.slice(1)) % 2).toBe(1);
      const all = await store.samplePeers('s1', 'odd', 100);
      expect(all.map((p) => p.peerId).sort()).toEqual(
        Array.from({ length: 15 }, (_, i) => `p${2 * i + 1}`).sort(),
      );
      expect(await store.samplePeers('s1', 'missing', 5)).toEqual([]);
      expect(await store.samplePeers('nope', 'odd', 5)).toEqual([]);
    });

    it('prunes only stale peers, at most max per call', async () => {
      for (let i = 0; i < 5; i++) await store.upsertPeer('s1', peer(`old${i}`), ['x']);
      now.value += 10_000;
      await store.upsertPeer('s1', peer('fresh'), ['x']);
      await store.upsertPeer('s1', peer('old0', { lastSeen: now.value }), ['x']); // re-announced
      expect(await store.pruneSwarm('s1', now.value - 5_000, 3)).toBe(3);
      expect(await store.pruneSwarm('s1', now.value - 5_000, 3)).toBe(1);
      expect(await store.pruneSwarm('s1', now.value - 5_000, 3)).toBe(0);
      expect(await store.countBucket('s1', 'x')).toBe(2);
      expect(await store.getPeer('s1', 'old0')).not.toBeNull();
    });

    it('binds a device id to the first token hash', async () => {
      expect(await store.claimDevice('dev1', 'h1')).toBe('created');
      expect(await store.claimDevice('dev1', 'h1')).toBe('ok');
      expect(await store.claimDevice('dev1', 'h2')).toBe('mismatch');
    });

    it('releases a claim only under the hash it was made with', async () => {
      expect(await store.claimDevice('dev2', 'h1')).toBe('created');
      await store.releaseDevice('dev2', 'h2');
      expect(await store.claimDevice('dev2', 'h2')).toBe('mismatch');
      await store.releaseDevice('dev2', 'h1');
      expect(await store.claimDevice('dev2', 'h2')).toBe('created');
    });

    it('keeps edges', async () => {
      const edge: EdgeRecord = {
        id: 'e1',
        address: { host: '10.0.0.9', port: 7000 },
        publicKey: 'pk',
        region: 'eu',
        capacity: 100,
        load: 0.1,
        registeredAt: 1,
        lastHeartbeat: 2,
      };
      await store.putEdge(edge);
      await store.putEdge({ ...edge, id: 'e2' });
      expect(await store.getEdge('e1')).toEqual(edge);
      expect((await store.listEdges()).map((e) => e.id).sort()).toEqual(['e1', 'e2']);
      await store.removeEdge('e1');
      expect(await store.getEdge('e1')).toBeNull();
      expect((await store.listEdges()).map((e) => e.id)).toEqual(['e2']);
    });

    it('updates documents with optimistic concurrency', async () => {
      expect(await store.getDocument('r:a')).toBeNull();
      expect(await store.putDocument('r:a', { n: 1 }, null)).toBe(true);
      expect(await store.putDocument('r:a', { n: 2 }, null)).toBe(false);
      const doc = await store.getDocument<{ n: number }>('r:a');
      expect(doc?.value).toEqual({ n: 1 });
      expect(await store.putDocument('r:a', { n: 2 }, doc?.version ?? -1)).toBe(true);
      expect(await store.putDocument('r:a', { n: 3 }, doc?.version ?? -1)).toBe(false);
      expect((await store.getDocument<{ n: number }>('r:a'))?.value).toEqual({ n: 2 });
      await store.putDocument('q:b', {}, null);
      expect(await store.listDocuments('r:')).toEqual(['r:a']);
    });

    it('adds counters', async () => {
      await store.addCounters('g', { a: 2, b: 5 });
      await store.addCounters('g', { a: 3 });
      expect(await store.getCounters('g')).toEqual({ a: 5, b: 5 });
      expect(await store.getCounters('empty')).toEqual({});
    });
  });
}
