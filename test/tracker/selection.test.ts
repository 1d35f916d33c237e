import { describe, expect, it } from 'vitest';
import { createSeededRandom, type Random } from '../../runtime/index.ts';
import { bucketsOf, canReach, type Locality, type PeeringScope, TIERS } from '../../tracker/locality.ts';
import { createMemorySwarmStore } from '../../tracker/memory-store.ts';
import { DEFAULT_SELECTION_OPTIONS, type Requester, selectPeers } from '../../tracker/selection.ts';
import type { PeerRecord, ReachClass, SwarmStore } from '../../tracker/swarm-store.ts';

const ISPS = ['isp-a', 'isp-b', 'isp-c', 'isp-d'];
const REGIONS = ['eu', 'us'];

function randomPeer(i: number, random: Random): { record: PeerRecord; locality: Locality } {
  const isp = ISPS[random.int(ISPS.length)] as string;
  const region = REGIONS[random.int(REGIONS.length)] as string;
  const r = random.float();
  const reach: ReachClass = r < 0.2 ? 'open' : r < 0.6 ? 'punchable' : 'hard';
  const host = `10.${ISPS.indexOf(isp)}.${REGIONS.indexOf(region)}.${i % 250}`;
  const locality: Locality = { publicIp: `${host}-${i}`, isp, region, asn: 1 };
  return {
    locality,
    record: {
      peerId: `peer-${i}`,
      address: { host: locality.publicIp, port: 4000 },
      isp,
      region,
      asn: 1,
      reach,
      seeder: random.float() < 0.3,
      have: 1,
      candidates: [],
      load: random.float(),
      uploadCapacity: 1,
      lastSeen: 0,
    },
  };
}

async function swarmOf(size: number, seed: number): Promise<{ store: SwarmStore; peers: PeerRecord[] }> {
  const random = createSeededRandom(seed);
  const store = createMemorySwarmStore({ random: createSeededRandom(seed + 1), now: () => 0 });
  const peers: PeerRecord[] = [];
  for (let i = 0; i < size; i++) {
    const { record, locality } = randomPeer(i, random);
    peers.push(record);
    await store.upsertPeer('s', record, bucketsOf(locality, record.reach, record.seeder));
  }
  return { store, peers };
}

const requesterFrom = (p: PeerRecord): Requester => ({
  peerId: p.peerId,
  locality: { publicIp: p.address.host, isp: p.isp, region: p.region, asn: p.asn },
  reach: p.reach,
  seeder: false,
  port: p.address.port,
});

describe('peer selection on a synthetic swarm', () => {
  it('honours tiers, reachability and bridges', async () => {
    const { store, peers } = await swarmOf(3000, 11);
    let sameIsp = 0;
    let total = 0;
    for (const p of peers.slice(0, 200)) {
      const selected = await selectPeers(store, 's', requesterFrom(p), 40, {
        ...DEFAULT_SELECTION_OPTIONS,
        scope: 'internet',
      });
      expect(selected).toHaveLength(40);
      for (const s of selected) {
        expect(canReach(p.reach, s.peer.reach)).toBe(true);
        expect(s.peer.peerId).not.toBe(p.peerId);
      }
      const ids = selected.map((s) => s.peer.peerId);
      expect(new Set(ids).size).toBe(ids.length);
      // Non-bridge peers come most-local tier first.
      const ranks = selected.filter((s) => !s.bridge).map((s) => TIERS.indexOf(s.tier));
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
      const bridges = selected.filter((s) => s.bridge);
      expect(bridges.length).toBeGreaterThanOrEqual(1);
      for (const b of bridges) expect(b.peer.isp).not.toBe(p.isp);
      sameIsp += selected.filter((s) => s.peer.isp === p.isp).length;
      total += selected.length;
    }
    expect(sameIsp / total).toBeGreaterThanOrEqual(0.9);
  });

  it('gives hard-NAT devices only connectable peers and saves connectable peers for them', async () => {
    const { store, peers } = await swarmOf(2000, 5);
    const punchable = peers.find((p) => p.reach === 'punchable') as PeerRecord;
    const selected = await selectPeers(store, 's', requesterFrom(punchable), 20, {
      ...DEFAULT_SELECTION_OPTIONS,
      scope: 'internet',
    });
    // Plenty of punchable peers exist in the same ISP and region, so no open peer is spent on it.
    expect(selected.filter((s) => !s.bridge).every((s) => s.peer.reach === 'punchable')).toBe(true);
    const hard = peers.find((p) => p.reach === 'hard') as PeerRecord;
    const forHard = await selectPeers(store, 's', requesterFrom(hard), 20, {
      ...DEFAULT_SELECTION_OPTIONS,
      scope: 'internet',
    });
    expect(forHard.every((s) => s.peer.reach === 'open')).toBe(true);
  });

  it('never exceeds the peering scope', async () => {
    const { store, peers } = await swarmOf(1500, 9);
    const scopes: PeeringScope[] = ['lan', 'isp', 'region', 'internet'];
    for (const scope of scopes) {
      for (const p of peers.slice(0, 30)) {
        const selected = await selectPeers(store, 's', requesterFrom(p), 30, {
          ...DEFAULT_SELECTION_OPTIONS,
          scope,
        });
        for (const s of selected) {
          if (scope === 'lan') expect(s.peer.address.host).toBe(p.address.host);
          if (scope === 'isp') expect(s.peer.isp).toBe(p.isp);
          if (scope === 'region') expect(s.peer.region).toBe(p.region);
        }
      }
    }
  });

  it('is deterministic with a seed', async () => {
    const run = async () => {
      const { store, peers } = await swarmOf(1000, 21);
      const out: string[][] = [];
      for (const p of peers.slice(0, 20)) {
        const selected = await selectPeers(store, 's', requesterFrom(p), 25, {
          ...DEFAULT_SELECTION_OPTIONS,
          scope: 'internet',
        });
        out.push(selected.map((s) => s.peer.peerId));
      }
      return out;
    };
    expect(await run()).toEqual(await run());
  });

  it('prefers lightly loaded peers within a tier', async () => {
    const store = createMemorySwarmStore({ random: createSeededRandom(2), now: () => 0 });
    const loc: Locality = { publicIp: '10.0.0.1', isp: 'isp-a', region: 'eu', asn: 1 };
    for (let i = 3; i >= 0; i--) {
      const record: PeerRecord = {
        peerId: `p${i}`,
        address: { host: `10.0.1.${i}`, port: 1 },
        isp: 'isp-a',
        region: 'eu',
        asn: 1,
        reach: 'open',
        seeder: true,
        have: 1,
        candidates: [],
        load: i / 10,
        uploadCapacity: 1,
        lastSeen: 0,
      };
      await store.upsertPeer('s', record, bucketsOf({ ...loc, publicIp: record.address.host }, 'open', true));
    }
    const selected = await selectPeers(
      store,
      's',
      { peerId: 'me', locality: loc, reach: 'open', seeder: false, port: 1 },
      2,
      { ...DEFAULT_SELECTION_OPTIONS, scope: 'isp' },
    );
    // The sample (2 x oversampled) covers all four; the two least loaded win.
    expect(selected.map((s) => s.peer.peerId)).toEqual(['p0', 'p1']);
  });

  it('random mode (plain-BitTorrent baseline) ignores locality and reachability but keeps the scope', async () => {
    const { store, peers } = await swarmOf(3000, 13);
    let sameIsp = 0;
    let unreachable = 0;
    let total = 0;
    for (const p of peers.slice(0, 100)) {
      const selected = await selectPeers(store, 's', requesterFrom(p), 30, {
        ...DEFAULT_SELECTION_OPTIONS,
        scope: 'internet',
        mode: 'random',
      });
      expect(selected).toHaveLength(30);
      for (const s of selected) {
        total++;
        if (s.peer.isp === p.isp) sameIsp++;
        if (!canReach(p.reach, s.peer.reach)) unreachable++;
      }
      const inIsp = await selectPeers(store, 's', requesterFrom(p), 30, {
        ...DEFAULT_SELECTION_OPTIONS,
        scope: 'isp',
        mode: 'random',
      });
      for (const s of inIsp) expect(s.peer.isp).toBe(p.isp);
    }
    expect(sameIsp / total).toBeLessThan(0.4); // ~1 in 4 ISPs
    expect(unreachable).toBeGreaterThan(0);
  });
});

describe('self-exclusion', () => {
  it('never hands a requester itself, with or without its store key, also in a crowded bucket', async () => {
    const store = createMemorySwarmStore({ random: createSeededRandom(5), now: () => 0 });
    const loc: Locality = { publicIp: '10.9.9.9', isp: 'isp-a', region: 'eu', asn: 1 };
    const base: Omit<PeerRecord, 'peerId'> = {
      address: { host: loc.publicIp, port: 4000 },
      isp: 'isp-a',
      region: 'eu',
      asn: 1,
      reach: 'open',
      seeder: false,
      have: 1,
      candidates: [{ type: 'host', host: '192.168.1.9', port: 4000 }],
      load: 0,
      uploadCapacity: 1,
      lastSeen: 0,
    };
    // Five devices behind one address (same LAN bucket): the requester is one of them.
    let ownKey: number | undefined;
    for (let i = 0; i < 5; i++) {
      const { storeKey } = await store.upsertPeer(
        's',
        { ...base, peerId: `lan-${i}` },
        bucketsOf(loc, 'open', false),
      );
      if (i === 2) ownKey = storeKey;
    }
    expect(ownKey).toBeTypeOf('number');
    const requester: Requester = { peerId: 'lan-2', locality: loc, reach: 'open', seeder: false, port: 4000 };
    for (const r of [requester, { ...requester, storeKey: ownKey }])
      for (let n = 0; n < 20; n++) {
        const chosen = await selectPeers(store, 's', r, 10, DEFAULT_SELECTION_OPTIONS);
        const ids = chosen.map((c) => c.peer.peerId);
        expect(ids).not.toContain('lan-2');
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids).toHaveLength(4);
        expect(chosen.every((c) => c.how === 'lan' && c.tier === 'lan')).toBe(true);
      }
  });
});
