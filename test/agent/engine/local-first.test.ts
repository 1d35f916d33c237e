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
async function download(local: LocalPeer[], options: { localPeersFirst?: boolean } = {}) {
  const { data, layout } = makeRelease(PIECES * PIECE, PIECE);
  const clock = new ManualClock();
  const engine = createDownloadEngine(options, {
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
    rateBps: 8e6,
    pieces: range(0, PIECES),
  });
  engine.addSource(remote);
  let done = false;
  void engine.run().then(() => {
    done = true;
  });
  await clock.runUntil(() => done, 600_000);
  expect(done).toBe(true);
  return { bytes: engine.progress().bytesBySource, remoteRequests: remote.requests };
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
    // One local peer lets us ask (pieces 0-7, slowly), another chokes us (pieces 8-15), the remote has
    // everything. The remote is asked for 16-23 first; 8-15 only once the serving local peer has nothing
    // left for us, so the download still completes.
    const { remoteRequests } = await download([
      { pieces: range(0, 8), rateBps: 50_000 },
      { pieces: range(8, 16), choked: true },
    ]);
    expect(remoteRequests.slice(0, 8).every((i) => i >= 16)).toBe(true);
    expect(new Set(remoteRequests)).toEqual(range(8, PIECES));
  });

  it('switched off, the faster remote peer takes its share of the local pieces too', async () => {
    const { bytes } = await download([{ pieces: range(0, 16) }], { localPeersFirst: false });
    expect(bytes['peer-other-isp']).toBeGreaterThan(8 * PIECE);
  });
});
