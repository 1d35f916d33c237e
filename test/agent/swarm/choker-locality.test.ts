import { describe, expect, it } from 'vitest';
import { RateEstimator } from '../../../agent/engine/rate.ts';
import { createChoker, DEFAULT_CHOKER_OPTIONS } from '../../../agent/swarm/choker.ts';
import type { PeerConnection } from '../../../agent/swarm/peer.ts';
import { createSeededRandom } from '../../../runtime/index.ts';
import { ManualClock } from '../helpers.ts';

function fakePeer(id: string, local: boolean, clock: ManualClock, uploadBps = 0) {
  const peer = {
    id,
    sourceClass: local ? 'peer-same-isp' : 'peer-other-isp',
    interested: true,
    choked: true,
    downloadRate: new RateEstimator(clock),
    uploadRate: new RateEstimator(clock),
    peerInterested: () => peer.interested,
    peerPieceCount: () => 0,
    choking: () => peer.choked,
    setChoking(choke: boolean) {
      peer.choked = choke;
    },
  };
  // A remote peer we upload to fast would win plain tit-for-tat.
  if (uploadBps > 0) peer.uploadRate.add(uploadBps);
  return peer;
}

function setup(peers: ReturnType<typeof fakePeer>[], clock: ManualClock, seed: number, slots = 4) {
  const choker = createChoker(
    { ...DEFAULT_CHOKER_OPTIONS, slots },
    {
      clock,
      random: createSeededRandom(seed),
      peers: () => peers as unknown as PeerConnection[],
      seeding: () => true,
      uploadAllowed: () => true,
    },
  );
  const unchoked = () => peers.filter((p) => !p.choked).map((p) => p.id);
  return { choker, unchoked };
}

describe('choker locality', () => {
  it('a seeder gives its slots to peers in its own ISP before faster remote ones', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const clock = new ManualClock();
      const peers = [
        ...['r1', 'r2', 'r3', 'r4', 'r5'].map((id) => fakePeer(id, false, clock, 1e6)),
        fakePeer('l1', true, clock),
        fakePeer('l2', true, clock),
      ];
      const { choker, unchoked } = setup(peers, clock, seed);
      choker.rechoke();
      // Both local peers, then two remote ones (regular + optimistic fill the 4 slots).
      expect(unchoked()).toEqual(expect.arrayContaining(['l1', 'l2']));
      expect(unchoked()).toHaveLength(4);
    }
  });

  it('the optimistic slot goes to a local peer while any is waiting', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const clock = new ManualClock();
      const peers = [
        ...['l1', 'l2', 'l3', 'l4', 'l5'].map((id) => fakePeer(id, true, clock)),
        ...['r1', 'r2', 'r3'].map((id) => fakePeer(id, false, clock, 1e6)),
      ];
      const { choker, unchoked } = setup(peers, clock, seed);
      choker.rechoke();
      expect(unchoked().every((id) => id.startsWith('l'))).toBe(true);
    }
  });

  it('a freed slot goes to a waiting local peer before a remote one', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const clock = new ManualClock();
      const peers = [
        ...['r1', 'r2', 'r3'].map((id) => fakePeer(id, false, clock)),
        fakePeer('l1', true, clock),
      ];
      for (const p of peers) p.interested = false;
      const { choker, unchoked } = setup(peers, clock, seed, 1);
      choker.rechoke();
      expect(unchoked()).toEqual([]);
      for (const p of peers) p.interested = true;
      choker.onInterest();
      expect(unchoked()).toEqual(['l1']);
    }
  });
});
