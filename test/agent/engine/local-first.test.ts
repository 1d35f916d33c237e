import { describe, expect, it } from 'vitest';
import { Bitfield } from '../../../agent/engine/bitfield.ts';
import { createDownloadEngine } from '../../../agent/engine/download.ts';
import { createMemoryPieceStore } from '../../../agent/storage/piece-store.ts';
import { createSeededRandom, createSilentLogger } from '../../../runtime/index.ts';
import { fakeSource, ManualClock, makeRelease } from '../helpers.ts';

const PIECE = 16 * 1024;
const PIECES = 24;

/**
 * A device with one peer in its own ISP and a faster one in another ISP. Pieces the local peer holds
 * are not asked of the remote one (their bytes would cross the ISP border for nothing); pieces only the
 * remote peer holds, or held locally by a peer that chokes us, still come from it.
 */
async function download(o: {
  localPieces: number;
  localChoked?: boolean;
  localPeersFirst?: boolean;
  localRateBps?: number;
  localMaxInFlight?: number;
}) {
  const { data, layout } = makeRelease(PIECES * PIECE, PIECE);
  const clock = new ManualClock();
  const engine = createDownloadEngine(
    { ...(o.localPeersFirst === undefined ? {} : { localPeersFirst: o.localPeersFirst }) },
    {
      clock,
      random: createSeededRandom(8),
      logger: createSilentLogger(),
      store: createMemoryPieceStore(),
      layout,
      have: new Bitfield(layout.pieces.length),
    },
  );
  const localSet = new Set<number>(Array.from({ length: o.localPieces }, (_, i) => i));
  engine.addSource(
    fakeSource({
      id: 'peer:local',
      kind: 'peer',
      sourceClass: 'peer-same-isp',
      data,
      layout,
      clock,
      rateBps: o.localRateBps ?? 1e6,
      ...(o.localMaxInFlight ? { maxInFlight: o.localMaxInFlight } : {}),
      pieces: localSet,
      ...(o.localChoked ? { choked: true } : {}),
    }),
  );
  const remote = fakeSource({
    id: 'peer:remote',
    kind: 'peer',
    sourceClass: 'peer-other-isp',
    data,
    layout,
    clock,
    rateBps: 8e6,
    pieces: new Set(layout.pieces.map((_, i) => i)),
  });
  engine.addSource(remote);
  let done = false;
  void engine.run().then(() => {
    done = true;
  });
  await clock.runUntil(() => done, 600_000);
  expect(done).toBe(true);
  return { bytes: engine.progress().bytesBySource, remoteAsked: new Set(remote.requests) };
}

describe('same-ISP peers first', () => {
  it('asks the remote peer only for pieces no usable local peer holds', async () => {
    const { bytes, remoteAsked } = await download({ localPieces: 16 });
    expect(bytes['peer-same-isp']).toBe(16 * PIECE);
    expect(bytes['peer-other-isp']).toBe(8 * PIECE);
    for (const i of remoteAsked) expect(i).toBeGreaterThanOrEqual(16);
  });

  it('a local peer that chokes us does not hold the remote one back', async () => {
    const { bytes } = await download({ localPieces: 16, localChoked: true });
    expect(bytes['peer-other-isp']).toBe(PIECES * PIECE);
  });

  it('the endgame does not race a local request across the border', async () => {
    // The local peer holds everything and takes every request at once (so the download is in its
    // endgame from the start), but slowly: 16 KiB in 1.6 s, so each request turns overdue at 1 s. Before
    // this rule the fast remote peer was asked for those pieces too.
    const { bytes, remoteAsked } = await download({
      localPieces: PIECES,
      localRateBps: 10_000,
      localMaxInFlight: PIECES,
    });
    expect(remoteAsked.size).toBe(0);
    expect(bytes['peer-same-isp']).toBe(PIECES * PIECE);
  });

  it('while a local peer serves us, pieces of a local peer that chokes us wait for it too', async () => {
    // One local peer lets us ask (pieces 0-7, slowly), another chokes us (pieces 8-15), the remote has
    // everything. The remote is asked for 16-23 first; 8-15 only once the serving local peer has nothing
    // left for us, so the download still completes.
    const { data, layout } = makeRelease(PIECES * PIECE, PIECE);
    const clock = new ManualClock();
    const engine = createDownloadEngine(
      {},
      {
        clock,
        random: createSeededRandom(8),
        logger: createSilentLogger(),
        store: createMemoryPieceStore(),
        layout,
        have: new Bitfield(layout.pieces.length),
      },
    );
    const range = (from: number, to: number) =>
      new Set(Array.from({ length: to - from }, (_, i) => from + i));
    const common = { kind: 'peer' as const, data, layout, clock };
    engine.addSource(
      fakeSource({
        ...common,
        id: 'peer:serving',
        sourceClass: 'peer-same-isp',
        rateBps: 50_000,
        pieces: range(0, 8),
      }),
    );
    engine.addSource(
      fakeSource({
        ...common,
        id: 'peer:choking',
        sourceClass: 'peer-same-isp',
        rateBps: 1e6,
        pieces: range(8, 16),
        choked: true,
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
    expect(remote.requests.slice(0, 8).every((i) => i >= 16)).toBe(true);
    expect(new Set(remote.requests)).toEqual(range(8, PIECES));
  });

  it('switched off, the faster remote peer takes its share of the local pieces too', async () => {
    const { bytes } = await download({ localPieces: 16, localPeersFirst: false });
    expect(bytes['peer-other-isp']).toBeGreaterThan(8 * PIECE);
  });
});
