import { describe, expect, it } from 'vitest';
import { RateEstimator } from '../../../agent/engine/rate.ts';
import { createChoker, DEFAULT_CHOKER_OPTIONS } from '../../../agent/swarm/choker.ts';
import type { PeerConnection } from '../../../agent/swarm/peer.ts';
import { createSeededRandom } from '../../../runtime/index.ts';
import { ManualClock } from '../helpers.ts';

/** The part of a peer connection the choker looks at. */
function fakePeer(id: string, clock: ManualClock) {
  const peer = {
    id,
    interested: true,
    choked: true,
    pieces: 0,
    downloadRate: new RateEstimator(clock),
    uploadRate: new RateEstimator(clock),
    peerInterested: () => peer.interested,
    peerPieceCount: () => peer.pieces,
    choking: () => peer.choked,
    setChoking(choke: boolean) {
      peer.choked = choke;
    },
  };
  return peer;
}

function setup(slots: number, names: string[]) {
  const clock = new ManualClock();
  const peers = names.map((n) => fakePeer(n, clock));
  const choker = createChoker(
    { ...DEFAULT_CHOKER_OPTIONS, slots },
    {
      clock,
      random: createSeededRandom(5),
      peers: () => peers as unknown as PeerConnection[],
      seeding: () => false,
      uploadAllowed: () => true,
    },
  );
  const unchoked = () =>
    peers
      .filter((p) => !p.choked)
      .map((p) => p.id)
      .sort();
  return { clock, peers, choker, unchoked };
}

describe('choker', () => {
  it('a slot freed by a peer that lost interest goes to a waiting peer at once', () => {
    const { peers, choker, unchoked } = setup(2, ['a', 'b', 'c']);
    peers[2]!.interested = false;
    choker.onInterest();
    expect(unchoked()).toEqual(['a', 'b']);
    // c becomes interested while a and b hold both slots; then a completes (loses interest).
    peers[2]!.interested = true;
    choker.onInterest();
    expect(unchoked()).toEqual(['a', 'b']);
    peers[0]!.interested = false;
    choker.onInterest();
    expect(unchoked()).toEqual(['b', 'c']);
  });

  it('reciprocates within one short round: the peer that gives us most gets a regular slot', async () => {
    const { clock, peers, choker, unchoked } = setup(2, ['a', 'b', 'c', 'd']);
    choker.start();
    const before = unchoked();
    expect(before).toHaveLength(2);
    // A peer that is choked now uploads to us far more than anyone else.
    const giver = peers.find((p) => p.choked)!;
    giver.downloadRate.add(1_000_000);
    await clock.runUntil(() => !giver.choked, DEFAULT_CHOKER_OPTIONS.intervalMs);
    expect(giver.choked).toBe(false);
    expect(clock.now() - 1_000_000).toBeLessThanOrEqual(2_000);
    choker.stop();
  });

  it('the optimistic slot goes to the waiting peer with the fewest pieces, round after round', async () => {
    const { clock, peers, choker } = setup(2, ['a', 'b', 'c', 'd']);
    peers[0]!.downloadRate.add(10_000_000); // a: the regular slot, by tit-for-tat
    peers[1]!.pieces = 40;
    peers[2]!.pieces = 3;
    peers[3]!.pieces = 30;
    choker.start();
    const picks: string[] = [];
    for (let round = 0; round < 10; round++) {
      peers[0]!.downloadRate.add(10_000_000);
      picks.push(
        peers
          .slice(1)
          .filter((p) => !p.choked)
          .map((p) => p.id)
          .join(),
      );
      const until = clock.now() + DEFAULT_CHOKER_OPTIONS.optimisticMs;
      await clock.runUntil(() => clock.now() >= until);
    }
    expect(peers[0]!.choked).toBe(false);
    expect(picks).toEqual(Array(10).fill('c'));
    choker.stop();
  });

  it('some regular slots go to the peers furthest behind, even ones that give us nothing', () => {
    const { peers, choker, unchoked } = setup(4, ['a', 'b', 'c', 'd', 'e', 'f']);
    for (const p of peers) p.pieces = 60;
    for (const p of peers.slice(0, 3)) p.downloadRate.add(10_000_000); // a, b, c reciprocate
    peers[3]!.pieces = 2; // d
    peers[4]!.pieces = 50; // e
    peers[5]!.pieces = 1; // f
    choker.rechoke();
    // 3 regular slots: the two furthest behind (f, d), one by tit-for-tat; the optimistic slot goes to
    // the neediest of the rest (e).
    const got = unchoked();
    expect(got).toHaveLength(4);
    expect(got).toEqual(expect.arrayContaining(['d', 'f', 'e']));
    expect(got.filter((id) => ['a', 'b', 'c'].includes(id))).toHaveLength(1);
  });
});
