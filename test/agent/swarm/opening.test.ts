import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Bitfield } from '../../../agent/engine/bitfield.ts';
import { type PeerConnection, PRESUMED_INTEREST_MS } from '../../../agent/swarm/peer.ts';
import { ManualClock } from '../helpers.ts';
import { wireEnd } from './wire-pair.ts';

const PIECES = 8;
/** One-way delay of the link between the two ends: half a round trip. */
const ONE_WAY_MS = 100;

/** Two in-memory ends joined by a link that delivers each write ONE_WAY_MS later (virtual time). */
function delayedPair(clock: ManualClock): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const make = (index: number): Duplex =>
    new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        clock.setTimer(ONE_WAY_MS, () => sides[1 - index]!.push(chunk));
        cb();
      },
    });
  sides[0] = make(0);
  sides[1] = make(1);
  return [sides[0], sides[1]];
}

/** A peer whose choker unchokes whoever is interested at once (a free upload slot). */
function peer(
  stream: Duplex,
  clock: ManualClock,
  have: Bitfield,
  initiator: boolean,
  textbookOpening = false,
): PeerConnection {
  const connection = wireEnd(stream, clock, have, { initiator, pieces: PIECES, textbookOpening });
  connection.onInterest(() => connection.setChoking(!connection.peerInterested()));
  return connection;
}

/**
 * A seeder that opens the wire for a newcomer as a PZ acceptor (peer-network.ts OPENS_WIRE), presuming
 * its interest, with a choker that gives the free slot at once (swarm.ts) and takes it back when the
 * peer is not interested.
 */
function openingSeeder(stream: Duplex, clock: ManualClock): PeerConnection {
  const seeder = wireEnd(stream, clock, bitfield(ALL), {
    initiator: false,
    pieces: PIECES,
    opensWire: true,
    presumeInterest: true,
  });
  seeder.onInterest(() => seeder.setChoking(!seeder.peerInterested()));
  if (seeder.peerInterested()) seeder.setChoking(false);
  return seeder;
}

function bitfield(held: number[]): Bitfield {
  const b = new Bitfield(PIECES);
  for (const i of held) b.set(i);
  return b;
}

const ALL = [...Array(PIECES).keys()];

describe('opening a peer wire', () => {
  it('a newcomer that dials a seeder may request one round trip after the stream opens', async () => {
    const clock = new ManualClock();
    const [dialerEnd, acceptorEnd] = delayedPair(clock);
    const seederSeen = peer(acceptorEnd, clock, bitfield(ALL), false);
    const newcomerSeen = peer(dialerEnd, clock, bitfield([]), true);
    const elapsed = await clock.runUntil(() => newcomerSeen.ready() && newcomerSeen.has(0));
    // Textbook order: 4 one-way trips (handshake; handshake + bitfield; interested; unchoke).
    expect(elapsed).toBe(2 * ONE_WAY_MS);
    expect(seederSeen.peerInterested()).toBe(true);
  });

  it('a seeder that dials a newcomer unchokes it after one and a half round trips', async () => {
    const clock = new ManualClock();
    const [dialerEnd, acceptorEnd] = delayedPair(clock);
    const newcomerSeen = peer(dialerEnd, clock, bitfield(ALL), true);
    const seederSeen = peer(acceptorEnd, clock, bitfield([]), false);
    const elapsed = await clock.runUntil(() => seederSeen.ready() && seederSeen.has(0));
    expect(elapsed).toBe(3 * ONE_WAY_MS);
    expect(newcomerSeen.peerInterested()).toBe(true);
    // The seeder wants nothing from the newcomer, and never said otherwise.
    expect(seederSeen.peerInterested()).toBe(false);
  });

  it('towards a stock client (TCP wire) the wire keeps the textbook order', async () => {
    const clock = new ManualClock();
    const [dialerEnd, acceptorEnd] = delayedPair(clock);
    peer(acceptorEnd, clock, bitfield(ALL), false, true);
    const newcomerSeen = peer(dialerEnd, clock, bitfield([]), true, true);
    const elapsed = await clock.runUntil(() => newcomerSeen.ready() && newcomerSeen.has(0));
    expect(elapsed).toBe(4 * ONE_WAY_MS);
  });

  it('a guessed interest is withdrawn once the bitfield shows nothing we lack', async () => {
    const clock = new ManualClock();
    const [dialerEnd, acceptorEnd] = delayedPair(clock);
    // The dialer holds 0-3; the peer it dials holds only 1.
    const dialerSeen = peer(acceptorEnd, clock, bitfield([1]), false);
    const acceptorSeen = peer(dialerEnd, clock, bitfield([0, 1, 2, 3]), true);
    await clock.runUntil(() => false, 10 * ONE_WAY_MS);
    expect(acceptorSeen.wire.amInterested).toBe(false);
    expect(dialerSeen.peerInterested()).toBe(false);
    // Its unchoke (given to the guess) went back to the pool when the guess was withdrawn.
    expect(dialerSeen.choking()).toBe(true);
    // The peer is interested in what the dialer holds, and was unchoked for it.
    expect(acceptorSeen.peerInterested()).toBe(true);
    expect(dialerSeen.ready()).toBe(true);
  });

  it('a seeder that opens the wire for a newcomer unchokes it in the opening: it may request half a round trip later', async () => {
    const clock = new ManualClock();
    const [dialerEnd, acceptorEnd] = delayedPair(clock);
    const seederSeen = openingSeeder(acceptorEnd, clock);
    expect(seederSeen.choking()).toBe(false);
    const newcomerSeen = wireEnd(dialerEnd, clock, bitfield([]), {
      initiator: true,
      pieces: PIECES,
      opensWire: false,
    });
    const elapsed = await clock.runUntil(() => newcomerSeen.ready() && newcomerSeen.has(0));
    expect(elapsed).toBe(ONE_WAY_MS);
    // The newcomer's own interest followed, and the presumption gave way to it.
    await clock.runUntil(() => false, PRESUMED_INTEREST_MS + 4 * ONE_WAY_MS);
    expect(seederSeen.wire.peerInterested).toBe(true);
    expect(seederSeen.choking()).toBe(false);
  });

  it('a presumed interest never confirmed gives its upload slot back', async () => {
    const clock = new ManualClock();
    const [dialerEnd, acceptorEnd] = delayedPair(clock);
    const startedAt = clock.now();
    const openerSeen = openingSeeder(acceptorEnd, clock);
    // The peer holds everything already: it never says it is interested.
    wireEnd(dialerEnd, clock, bitfield(ALL), { initiator: true, pieces: PIECES, opensWire: false });
    await clock.runUntil(() => false, 4 * ONE_WAY_MS);
    expect(openerSeen.choking()).toBe(false);
    await clock.runUntil(() => !openerSeen.peerInterested());
    expect(clock.now() - startedAt).toBe(PRESUMED_INTEREST_MS);
    expect(openerSeen.choking()).toBe(true);
  });
});
