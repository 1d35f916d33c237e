import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Bitfield } from '../../../agent/engine/bitfield.ts';
import { CONTROL_BATCH_MS, HAVE_BATCH_MS } from '../../../agent/swarm/peer.ts';
import { flush, ManualClock } from '../helpers.ts';
import { wireEnd } from './wire-pair.ts';

const PIECES = 8;

/** Two in-memory ends; every chunk A writes is recorded with the virtual time it left at. */
function pair(clock: ManualClock): { a: Duplex; b: Duplex; sentAt: number[] } {
  const sentAt: number[] = [];
  const sides: Duplex[] = [];
  const make = (index: number): Duplex =>
    new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        if (index === 0) sentAt.push(clock.now());
        sides[1 - index]!.push(chunk);
        cb();
      },
    });
  sides[0] = make(0);
  sides[1] = make(1);
  return { a: sides[0], b: sides[1], sentAt };
}

function peer(stream: Duplex, clock: ManualClock, have: Bitfield, initiator: boolean) {
  return wireEnd(stream, clock, have, { initiator, pieces: PIECES });
}

describe('haves and suggests to a peer', () => {
  it('leave together after the batch delay; a have for a piece the peer holds only rides along', async () => {
    const clock = new ManualClock();
    const { a, b, sentAt } = pair(clock);
    const haveA = new Bitfield(PIECES);
    const haveB = new Bitfield(PIECES);
    haveB.set(0);
    haveB.set(3);
    haveB.set(PIECES - 1); // keeps A interested throughout: no interest message mixes in
    const toB = peer(a, clock, haveA, true);
    const toA = peer(b, clock, haveB, false);
    await flush();
    expect(toA.peerPieceCount()).toBe(0);
    const handshakeWrites = sentAt.length;

    // A piece B holds already: no datagram of its own, even after the batch delay.
    haveA.set(0);
    toB.announceHave(0);
    await clock.runUntil(() => false, 2 * CONTROL_BATCH_MS);
    expect(sentAt.length).toBe(handshakeWrites);
    expect(toA.wire.peerPieces.get(0)).toBe(false);

    // Two pieces B lacks, verified 10 ms apart, and a claim: one instant on the wire, not three, and
    // the withheld have rides along.
    haveA.set(1);
    toB.announceHave(1);
    toB.announceSoon(5);
    await clock.runUntil(() => false, 10);
    haveA.set(2);
    toB.announceHave(2);
    expect(sentAt.length).toBe(handshakeWrites);
    await clock.runUntil(() => toA.peerPieceCount() >= 3 && toA.soon(5), CONTROL_BATCH_MS);
    const controlWrites = sentAt.slice(handshakeWrites);
    expect(controlWrites.length).toBeGreaterThanOrEqual(3);
    expect(new Set(controlWrites).size).toBe(1);
    expect([0, 1, 2].every((i) => toA.wire.peerPieces.get(i))).toBe(true);
    expect(toA.soon(5)).toBe(true);

    // B holds piece 3 too: when we complete it is told anyway, so that it sees a seeder.
    for (let i = 3; i < PIECES; i++) {
      haveA.set(i);
      toB.announceHave(i);
    }
    await clock.runUntil(() => toA.peerPieceCount() === PIECES, 2 * CONTROL_BATCH_MS);
    expect(toA.peerPieceCount()).toBe(PIECES);
    toA.close('done');
    toB.close('done');
  });

  it('to a peer already interested in us, a have waits longer, unless a claim leaves first', async () => {
    const clock = new ManualClock();
    const { a, b, sentAt } = pair(clock);
    const haveA = new Bitfield(PIECES);
    const haveB = new Bitfield(PIECES);
    haveB.set(PIECES - 1);
    haveA.set(0); // B lacks it: B is interested in A from the bitfield on
    const toB = peer(a, clock, haveA, true);
    const toA = peer(b, clock, haveB, false);
    await clock.runUntil(() => toB.peerInterested(), 100);
    expect(toB.peerInterested()).toBe(true);
    const before = sentAt.length;

    haveA.set(1);
    toB.announceHave(1);
    await clock.runUntil(() => false, 2 * CONTROL_BATCH_MS);
    expect(sentAt.length).toBe(before);
    await clock.runUntil(() => toA.wire.peerPieces.get(1), HAVE_BATCH_MS);
    expect(toA.wire.peerPieces.get(1)).toBe(true);

    // A claim is not held back that long, and the waiting have goes with it.
    haveA.set(2);
    toB.announceHave(2);
    toB.announceSoon(4);
    await clock.runUntil(() => toA.soon(4), CONTROL_BATCH_MS);
    expect(toA.soon(4)).toBe(true);
    expect(toA.wire.peerPieces.get(2)).toBe(true);
    toA.close('done');
    toB.close('done');
  });
});
