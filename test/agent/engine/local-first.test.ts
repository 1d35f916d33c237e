import { describe, expect, it } from 'vitest';
import { Bitfield } from '../../../agent/engine/bitfield.ts';
import { createDownloadEngine } from '../../../agent/engine/download.ts';
import { createMemoryPieceStore } from '../../../agent/storage/piece-store.ts';
import { createSeededRandom, createSilentLogger } from '../../../runtime/index.ts';
import { fakeSource, ManualClock, makeRelease } from '../helpers.ts';

const PIECE = 16 * 1024;
const PIECES = 24;

interface LocalPeer {
  pieces: Set<number>;
  rateBps?: number;
  choked?: boolean;
  maxInFlight?: number;
}

const range = (from: number, to: number) => new Set(Array.from({ length: to - from }, (_, i) => from + i));

/**
 * A device with peers in its own ISP and a faster one in another ISP that holds everything. Pieces the
 * local peers hold are not asked of the remote one (their bytes would cross the ISP border for nothing);
 * pieces only the remote peer holds, or held locally by a peer that chokes us, still come from it.
 */
async function download(
  local: LocalPeer[],
  options: {
    localPeersFirst?: boolean;
    localPeersPatienceMs?: number;
    stopAfterMs?: number;
    remoteRateBps?: number;
  } = {},
) {
  const { stopAfterMs, remoteRateBps, ...engineOptions } = options;
  const { data, layout } = makeRelease(PIECES * PIECE, PIECE);
  const clock = new ManualClock();
  const engine = createDownloadEngine(engineOptions, {
    clock,
    random: createSeededRandom(8),
    logger: createSilentLogger(),
    store: createMemoryPieceStore(),
    layout,
    have: new Bitfield(layout.pieces.length),
  });
  const common = { kind: 'peer' as const, data, layout, clock };
  for (const [i, peer] of local.entries())
    engine.addSource(
      fakeSource({
        ...common,
        id: `peer:local-${i}`,
        sourceClass: 'peer-same-isp',
        rateBps: peer.rateBps ?? 1e6,
        pieces: peer.pieces,
        ...(peer.maxInFlight ? { maxInFlight: peer.maxInFlight } : {}),
        ...(peer.choked ? { choked: true } : {}),
      }),
    );
  const remote = fakeSource({
    ...common,
    id: 'peer:remote',
    sourceClass: 'peer-other-isp',
    rateBps: remoteRateBps ?? 8e6,
    pieces: range(0, PIECES),
  });
  engine.addSource(remote);
  let done = false;
  void engine.run().then(() => {
    done = true;
  });
  await clock.runUntil(() => done, stopAfterMs ?? 600_000);
  if (stopAfterMs === undefined) expect(done).toBe(true);
  return {
    bytes: engine.progress().bytesBySource,
    remoteRequests: remote.requests,
    remoteRequestTimes: remote.requestTimes,
  };
}

describe('same-ISP peers first', () => {
  it('asks the remote peer only for pieces no usable local peer holds', async () => {
    const { bytes, remoteRequests } = await download([{ pieces: range(0, 16) }]);
    expect(bytes['peer-same-isp']).toBe(16 * PIECE);
    expect(bytes['peer-other-isp']).toBe(8 * PIECE);
    for (const i of remoteRequests) expect(i).toBeGreaterThanOrEqual(16);
  });

  it('a local peer that chokes us does not hold the remote one back', async () => {
    const { bytes } = await download([{ pieces: range(0, 16), choked: true }]);
    expect(bytes['peer-other-isp']).toBe(PIECES * PIECE);
  });

  it('the endgame does not race a local request across the border', async () => {
    // The local peer holds everything and takes every request at once (so the download is in its
    // endgame from the start), but slowly: 16 KiB in 1.6 s, so each request turns overdue at 1 s. Before
    // this rule the fast remote peer was asked for those pieces too.
    const { bytes, remoteRequests } = await download([
      { pieces: range(0, PIECES), rateBps: 10_000, maxInFlight: PIECES },
    ]);
    expect(remoteRequests).toHaveLength(0);
    expect(bytes['peer-same-isp']).toBe(PIECES * PIECE);
  });

  it('while a local peer serves us, pieces of a local peer that chokes us wait for it too', async () => {
    // One local peer lets us ask (pieces 0-7, one at a time, 50 ms each), another chokes us (8-23), the
    // remote has everything (80 ms a piece, 2 at a time). From the serving peer's first piece until it
    // has nothing left for us (0.4 s) the remote is not asked for 8-23: only the first pass, before that
    // first piece, may have asked it for its 2 slots.
    const peers = [
      { pieces: range(0, 8), rateBps: 327_680, maxInFlight: 1 },
      { pieces: range(8, PIECES), choked: true },
    ];
    const { remoteRequests: early } = await download(peers, { stopAfterMs: 380, remoteRateBps: 204_800 });
    expect(early.length).toBeLessThanOrEqual(2);
    // Then the rest comes from the remote: the download completes.
    const { remoteRequests } = await download(peers, { remoteRateBps: 204_800 });
    expect(new Set(remoteRequests)).toEqual(range(8, PIECES));
  });

  it('a local peer whose requests hang stops counting as serving us after 3 s', async () => {
    // The unchoked local peer holds 0-7 but answers nothing; another local peer chokes us (8-15). Its
    // pieces are asked of the remote peer once the hanging one has been silent for 3 s, not after the
    // 30-s request timeout.
    const { remoteRequests } = await download(
      [
        { pieces: range(0, 8), rateBps: 1 },
        { pieces: range(8, 16), choked: true },
      ],
      // The patience below (localPeersPatienceMs) would release 0-7 too after 2.5 s.
      { stopAfterMs: 5000, localPeersPatienceMs: 60_000 },
    );
    expect(remoteRequests.some((i) => i >= 8 && i < 16)).toBe(true);
    expect(remoteRequests.some((i) => i < 8)).toBe(false);
  });

  it('a download still running after localPeersPatienceMs may ask the remote peer for local pieces', async () => {
    // The local peer holds 0-15 but serves them at 10 kB/s (16 KiB in 1.6 s, one at a time); the
    // remote holds everything. For 2.5 s only 16-23 go to the remote; after that, the local peer's
    // pieces too: an ISP whose holders cannot keep up does not hold a device back for the rest of its
    // download (nat444-1k: max completion 9.2 -> 8.2 s and 8.8 -> 7.6 s on two seeds, intra-ISP share
    // unchanged within 0.1 point).
    const local = [{ pieces: range(0, 16), rateBps: 10_000, maxInFlight: 1 }];
    const { remoteRequests, remoteRequestTimes, bytes } = await download(local);
    const start = remoteRequestTimes[0]!;
    const localPieceAsked = remoteRequests.map((index, k) => ({ index, at: remoteRequestTimes[k]! - start }));
    const early = localPieceAsked.filter((r) => r.index < 16 && r.at < 2_500);
    const late = localPieceAsked.filter((r) => r.index < 16 && r.at >= 2_500);
    expect(early).toEqual([]);
    expect(late.length).toBeGreaterThan(4);
    expect(bytes['peer-other-isp']).toBeGreaterThan(12 * PIECE);
    // Without the patience the local peer would have served all 16 (about 26 s).
    const { bytes: patient } = await download(local, { localPeersPatienceMs: 600_000 });
    expect(patient['peer-same-isp']).toBe(16 * PIECE);
  });

  it('switched off, the faster remote peer takes its share of the local pieces too', async () => {
    const { bytes } = await download([{ pieces: range(0, 16) }], { localPeersFirst: false });
    expect(bytes['peer-other-isp']).toBeGreaterThan(8 * PIECE);
  });
});
