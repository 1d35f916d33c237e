import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../../runtime/index.ts';
import { bucketFor, isAddressBucket, SEEDER_BUCKET, TIERS } from '../../tracker/locality.ts';
import { PeerSlots } from '../../tracker/peer-slots.ts';
import type { PeerRecord } from '../../tracker/swarm-store.ts';

const record = (peerId: string, lastSeen: number, over: Partial<PeerRecord> = {}): PeerRecord => ({
  peerId,
  address: { host: `10.0.0.${peerId.length}`, port: 7000 },
  isp: 'isp-a',
  region: null,
  asn: null,
  reach: 'punchable',
  seeder: false,
  have: 1,
  candidates: [{ type: 'srflx', host: '10.0.0.1', port: 7000 }],
  load: 0.25,
  uploadCapacity: 5,
  lastSeen,
  ...over,
});

describe('PeerSlots', () => {
  it('tells per-address bucket names from shared ones in every family', () => {
    const loc = { publicIp: '10.1.2.3', isp: 'isp-a', region: 'eu', asn: null };
    for (const family of ['pz', 'bt', 'tcp'] as const)
      for (const tier of TIERS) {
        const name = bucketFor(tier, loc, 'open', family) as string;
        expect([name, isAddressBucket(name)]).toEqual([name, tier === 'lan']);
      }
    expect(isAddressBucket(SEEDER_BUCKET)).toBe(false);
  });

  it('matches a plain model through random inserts, moves, removals and prunes (slots are reused)', () => {
    const random = createSeededRandom(11);
    const slots = new PeerSlots(0);
    const model = new Map<string, { buckets: string[]; seen: number; have: number }>();
    // Shared and per-address names (the two are kept in separate maps).
    const names = ['a', 'b', 'c', 'ip:10.0.0.1:open', 'tcp/ip:10.0.0.2:hard'];
    let clock = 0;
    for (let step = 0; step < 4000; step++) {
      clock++;
      const id = `p${random.int(300)}`;
      const op = random.float();
      if (op < 0.7) {
        const buckets = names.filter(() => random.float() < 0.5);
        const have = random.int(1000);
        slots.upsert(
          record(id, clock, { have, seeder: have > 900, tcpPort: have % 2 ? have : undefined }),
          buckets,
        );
        model.set(id, { buckets, seen: clock, have });
      } else if (op < 0.95) {
        expect(slots.remove(id)).toBe(model.delete(id));
      } else {
        const cutoff = clock - 200;
        const stale = [...model].filter(([, m]) => m.seen < cutoff).map(([k]) => k);
        expect(slots.prune(cutoff, 1_000)).toBe(stale.length);
        for (const k of stale) model.delete(k);
      }
    }
    expect(slots.size).toBe(model.size);
    expect(slots.bucketCount).toBe(
      names.filter((n) => [...model.values()].some((m) => m.buckets.includes(n))).length,
    );
    for (const name of names) {
      const members = [...model].filter(([, m]) => m.buckets.includes(name)).map(([k]) => k);
      expect(slots.count(name)).toBe(members.length);
      const sampled = slots.sample(name, 10_000, random).map((p) => p.peerId);
      expect(sampled.sort()).toEqual(members.sort());
    }
    for (const [id, m] of model) {
      const got = slots.get(id);
      expect(got?.have).toBe(m.have);
      expect(got?.lastSeen).toBe(m.seen);
      expect(got?.tcpPort).toBe(m.have % 2 ? m.have : undefined);
    }
  });

  it('drops buckets that empty, also when a peer moves from a bucket it was alone in', () => {
    const slots = new PeerSlots(0);
    slots.upsert(record('p1', 1), ['a', 'b']);
    slots.upsert(record('p1', 2), ['a2', 'b', 'c']);
    expect(slots.count('a')).toBe(0);
    expect(slots.count('b')).toBe(1);
    expect(slots.bucketCount).toBe(3);
    slots.upsert(record('p2', 3), ['a', 'c']);
    expect(slots.count('c')).toBe(2);
    expect(slots.remove('p1')).toBe(true);
    expect(slots.bucketCount).toBe(2);
    expect(slots.sample('c', 5, createSeededRandom(1)).map((p) => p.peerId)).toEqual(['p2']);
  });

  it('keeps the stored strings and candidate list when a re-announce repeats them', () => {
    const slots = new PeerSlots(0);
    const first = record('p1', 1, { answerFragment: 'x'.repeat(40) });
    slots.upsert(first, ['a']);
    const again = record('p1', 2, { have: 7, answerFragment: 'x'.repeat(40) });
    slots.upsert(again, ['a']);
    const stored = slots.get('p1');
    expect(stored?.have).toBe(7);
    expect(stored?.candidates).toBe(first.candidates);
    slots.upsert(record('p1', 3, { candidates: [{ type: 'srflx', host: '10.0.0.9', port: 1 }] }), ['a']);
    expect(slots.get('p1')?.candidates).toEqual([{ type: 'srflx', host: '10.0.0.9', port: 1 }]);
  });

  it('samples distinct members and can return a whole small bucket', () => {
    const slots = new PeerSlots(0);
    for (let i = 0; i < 100; i++) slots.upsert(record(`p${i}`, i), [i < 10 ? 'small' : 'big']);
    const random = createSeededRandom(2);
    const few = slots.sample('big', 8, random).map((p) => p.peerId);
    expect(new Set(few).size).toBe(8);
    expect(slots.sample('small', 30, random)).toHaveLength(10);
    expect(slots.sample('none', 3, random)).toEqual([]);
  });
});
