import { describe, expect, it } from 'vitest';
import { Bitfield } from '../../../agent/engine/bitfield.ts';
import { createDownloadEngine, type EngineOptions } from '../../../agent/engine/download.ts';
import type { PieceLayout } from '../../../agent/engine/layout.ts';
import { createMemoryPieceStore } from '../../../agent/storage/piece-store.ts';
import { createSeededRandom, createSilentLogger } from '../../../runtime/index.ts';
import { fakeSource, flush, ManualClock, makeRelease } from '../helpers.ts';

const PIECE = 16 * 1024;

function setup(layout: PieceLayout, options: Partial<EngineOptions> = {}, have?: Bitfield) {
  const clock = new ManualClock();
  const store = createMemoryPieceStore();
  const bits = have ?? new Bitfield(layout.pieces.length);
  const engine = createDownloadEngine(options, {
    clock,
    random: createSeededRandom(7),
    logger: createSilentLogger(),
    store,
    layout,
    have: bits,
  });
  return { clock, store, engine, have: bits };
}

/** Runs the engine in virtual time until it finishes or `limitMs` passes. */
async function runEngine(
  engine: ReturnType<typeof setup>['engine'],
  clock: ReturnType<typeof setup>['clock'],
  limitMs?: number,
): Promise<{ done: boolean; elapsed: number }> {
  let done = false;
  void engine.run().then(() => {
    done = true;
  });
  const elapsed = await clock.runUntil(() => done, limitMs);
  return { done, elapsed };
}

function assemble(store: ReturnType<typeof createMemoryPieceStore>, layout: PieceLayout): Uint8Array {
  const out = new Uint8Array(layout.size);
  for (let i = 0; i < layout.pieces.length; i++) out.set(store.pieces.get(i)!, i * layout.pieceLength);
  return out;
}

describe('download engine', () => {
  it('completes byte-exact from a single CDN source', async () => {
    const { data, layout } = makeRelease(20 * PIECE + 123, PIECE);
    const { clock, store, engine } = setup(layout);
    engine.addSource(fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 1e6 }));
    const { done } = await runEngine(engine, clock);
    expect(done).toBe(true);
    expect(Buffer.from(assemble(store, layout)).equals(Buffer.from(data))).toBe(true);
    expect(engine.progress().bytesBySource.cdn).toBe(layout.size);
  });

  it('bans a source that sends corrupt pieces and still completes', async () => {
    const { data, layout } = makeRelease(30 * PIECE, PIECE, 2);
    const { clock, store, engine } = setup(layout, { banAfterBadPieces: 2 });
    const evil = fakeSource({
      id: 'evil',
      kind: 'peer',
      data,
      layout,
      clock,
      rateBps: 1e8,
      corrupt: true,
      maxInFlight: 4,
    });
    const good = fakeSource({ id: 'good', kind: 'peer', data, layout, clock, rateBps: 1e6 });
    engine.addSource(evil);
    engine.addSource(good);
    const events: string[] = [];
    engine.on((e) => {
      if (e.type === 'banned' || e.type === 'bad-piece') events.push(`${e.type}:${e.sourceId}`);
    });
    const { done } = await runEngine(engine, clock);
    expect(done).toBe(true);
    expect(engine.isBanned('evil')).toBe(true);
    expect(evil.closed).toMatch(/banned/);
    expect(events).toContain('banned:evil');
    expect(engine.addSource(evil)).toBe(false);
    expect(Buffer.from(assemble(store, layout)).equals(Buffer.from(data))).toBe(true);
    expect(engine.progress().wastedBytes).toBeGreaterThan(0);
  });

  it('takes nothing from the CDN while a peer can supply every piece fast enough', async () => {
    const { data, layout } = makeRelease(40 * PIECE, PIECE, 3);
    const { clock, engine } = setup(layout);
    engine.addSource(
      fakeSource({ id: 'peer', kind: 'peer', data, layout, clock, rateBps: 1e6, maxInFlight: 4 }),
    );
    const cdn = fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 1e7 });
    engine.addSource(cdn);
    const { done } = await runEngine(engine, clock);
    expect(done).toBe(true);
    expect(cdn.requests).toEqual([]);
    expect(engine.progress().bytesBySource['peer-same-isp']).toBe(layout.size);
  });

  it('uses the CDN only for pieces no peer has', async () => {
    const { data, layout } = makeRelease(40 * PIECE, PIECE, 4);
    const { clock, engine } = setup(layout);
    const peerPieces = new Set(Array.from({ length: 30 }, (_, i) => i));
    engine.addSource(
      fakeSource({ id: 'p', kind: 'peer', data, layout, clock, rateBps: 1e6, pieces: peerPieces }),
    );
    const cdn = fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 1e6 });
    engine.addSource(cdn);
    const { done } = await runEngine(engine, clock);
    expect(done).toBe(true);
    expect(new Set(cdn.requests)).toEqual(new Set(Array.from({ length: 10 }, (_, i) => 30 + i)));
  });

  it('falls back to infrastructure when the peer rate stays below the floor, within the share cap', async () => {
    const { data, layout } = makeRelease(64 * PIECE, PIECE, 5);
    const { clock, engine } = setup(layout, {
      peerRateFloorBps: 100_000,
      peerRateFloorMs: 5000,
      infrastructureShareCap: 0.5,
    });
    engine.addSource(fakeSource({ id: 'slow', kind: 'peer', data, layout, clock, rateBps: 4000 }));
    engine.addSource(fakeSource({ id: 'edge', kind: 'edge', data, layout, clock, rateBps: 1e6 }));
    const { done, elapsed } = await runEngine(engine, clock);
    const p = engine.progress();
    expect(done).toBe(true);
    expect(p.bytesBySource.edge).toBeGreaterThan(0);
    expect(p.bytesBySource.edge).toBeLessThanOrEqual(0.5 * layout.size);
    // A peer alone at 8 kB/s (2 requests) would need ~130 s; with the edge it is far quicker.
    expect(elapsed).toBeLessThan(130_000);
  });

  it('a slow device whose peers hold its pieces and unchoke it waits its turn instead of going to infrastructure', async () => {
    const { data, layout } = makeRelease(20 * PIECE, PIECE, 21);
    const { clock, engine } = setup(layout, {
      peerRateFloorBps: 100_000,
      peerRateFloorMs: 5000,
      peerRatePatienceMs: 600_000,
    });
    // 8 kB/s: far below the floor for the whole ~40 s download, but the seeder serves us all along,
    // and another device is downloading too (a young swarm: one seeder, two leechers).
    engine.addSource(fakeSource({ id: 'slow', kind: 'peer', data, layout, clock, rateBps: 4000 }));
    const some = new Set(Array.from({ length: 10 }, (_, i) => i));
    engine.addSource(
      fakeSource({ id: 'other', kind: 'peer', data, layout, clock, rateBps: 1, pieces: some }),
    );
    const edge = fakeSource({ id: 'edge', kind: 'edge', data, layout, clock, rateBps: 1e6 });
    engine.addSource(edge);
    const { done, elapsed } = await runEngine(engine, clock);
    expect(done).toBe(true);
    expect(elapsed).toBeGreaterThan(30_000);
    expect(edge.requests).toEqual([]);
    expect(engine.progress().infraBytesByReason.starving).toBe(0);
  });

  it('once seeders are as many as downloading peers, a device still below the floor is left out, not waiting: it starves', async () => {
    const { data, layout } = makeRelease(20 * PIECE, PIECE, 21);
    const { clock, engine } = setup(layout, {
      peerRateFloorBps: 100_000,
      peerRateFloorMs: 5000,
      peerRatePatienceMs: 600_000,
    });
    // Two seeders serving us slowly and no other device downloading: the swarm is not young.
    engine.addSource(fakeSource({ id: 'slow', kind: 'peer', data, layout, clock, rateBps: 4000 }));
    engine.addSource(fakeSource({ id: 'slow2', kind: 'peer', data, layout, clock, rateBps: 4000 }));
    const edge = fakeSource({ id: 'edge', kind: 'edge', data, layout, clock, rateBps: 1e6 });
    engine.addSource(edge);
    const { done, elapsed } = await runEngine(engine, clock);
    expect(done).toBe(true);
    expect(elapsed).toBeLessThan(15_000);
    expect(engine.progress().infraBytesByReason.starving).toBeGreaterThan(layout.size / 2);
  });

  it('a device whose peers cannot serve it (choked out) starves after the floor time: bounded infrastructure, unsupplied pieces first', async () => {
    const { data, layout } = makeRelease(40 * PIECE, PIECE, 22);
    const { clock, engine } = setup(layout, {
      peerRateFloorBps: 100_000,
      peerRateFloorMs: 5000,
      peerRatePatienceMs: 600_000,
    });
    // Two peers that never unchoke us: one holds every piece, the other the first half.
    engine.addSource(
      fakeSource({ id: 'all', kind: 'peer', data, layout, clock, rateBps: 1e6, choked: true }),
    );
    const half = new Set(Array.from({ length: 20 }, (_, i) => i));
    engine.addSource(
      fakeSource({ id: 'half', kind: 'peer', data, layout, clock, rateBps: 1e6, choked: true, pieces: half }),
    );
    const edge = fakeSource({
      id: 'edge',
      kind: 'edge',
      data,
      layout,
      clock,
      rateBps: 20_000,
      maxInFlight: 8,
    });
    engine.addSource(edge);
    const startedAt = clock.now();
    let firstInfraAt: number | undefined;
    let inFlight = 0;
    let mostInFlight = 0;
    engine.on((e) => {
      if (e.type === 'infra-request') {
        firstInfraAt ??= clock.now() - startedAt;
        mostInFlight = Math.max(mostInFlight, ++inFlight);
      } else if (e.type === 'piece') inFlight--;
    });
    const { done } = await runEngine(engine, clock);
    expect(done).toBe(true);
    // Within the set time (floor 5 s, checked on the 1 s tick), not at the 600 s patience.
    expect(firstInfraAt).toBeGreaterThanOrEqual(5000);
    expect(firstInfraAt).toBeLessThanOrEqual(8000);
    expect(mostInFlight).toBeLessThanOrEqual(4);
    expect(engine.progress().infraBytesByReason.starving).toBe(layout.size);
    // Held by 1 peer (20..39) before held by 2 (0..19): the least-held pieces go first.
    expect(edge.requests.slice(0, 20).every((i) => i >= 20)).toBe(true);
  });

  it('spreads restricted infrastructure requests over the edge and the CDN, not the edge alone', async () => {
    const { data, layout } = makeRelease(60 * PIECE, PIECE, 12);
    const { clock, engine } = setup(layout, { peerRateFloorMs: 600_000 });
    // A peer with a few pieces keeps the engine restricted: one infrastructure request at a time.
    const few = new Set(Array.from({ length: 4 }, (_, i) => i));
    engine.addSource(fakeSource({ id: 'p', kind: 'peer', data, layout, clock, rateBps: 1e6, pieces: few }));
    const edge = fakeSource({ id: 'edge', kind: 'edge', data, layout, clock, rateBps: 1e6 });
    const cdn = fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 1e6 });
    engine.addSource(edge);
    engine.addSource(cdn);
    const { done } = await runEngine(engine, clock, 120_000);
    expect(done).toBe(true);
    expect(edge.requests.length + cdn.requests.length).toBe(56);
    // Edge-first would give the CDN nothing; a fair split gives each a good share of the 56.
    expect(edge.requests.length).toBeGreaterThanOrEqual(15);
    expect(cdn.requests.length).toBeGreaterThanOrEqual(15);
  });

  it('an edge that stops answering does not hold the infrastructure slot while peers are around', async () => {
    const { data, layout } = makeRelease(20 * PIECE, PIECE, 11);
    const { clock, engine } = setup(layout, {
      infraStallMs: 3000,
      requestTimeoutMs: 600_000,
      peerRateFloorMs: 60_000,
    });
    const all = new Set(Array.from({ length: 20 }, (_, i) => i));
    // A peer with half the pieces keeps the engine in restricted mode (one infrastructure request).
    const half = new Set(Array.from({ length: 10 }, (_, i) => i));
    engine.addSource(fakeSource({ id: 'p', kind: 'peer', data, layout, clock, rateBps: 1e6, pieces: half }));
    const edge = fakeSource({ id: 'edge', kind: 'edge', data, layout, clock, rateBps: 1e6, stall: all });
    const cdn = fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 1e6 });
    engine.addSource(edge);
    engine.addSource(cdn);
    const { done, elapsed } = await runEngine(engine, clock, 120_000);
    expect(done).toBe(true);
    // The edge never answered and, once overtaken, backed off; the CDN served the rest (the edge's
    // stuck pieces included) within seconds, not at the 600 s request timeout or the rate floor.
    expect(edge.requests.length).toBeLessThanOrEqual(2);
    expect(cdn.requests.length).toBeGreaterThanOrEqual(9);
    expect(elapsed).toBeLessThan(15_000);
  });

  it('a slow but steady edge keeps its pieces: stall follows silence, not piece time', async () => {
    const { data, layout } = makeRelease(16 * PIECE, PIECE, 13);
    const { clock, engine } = setup(layout, {
      requestTimeoutMs: 600_000,
      peerRateFloorMs: 600_000,
      peerRatePatienceMs: 600_000,
    });
    const half = new Set(Array.from({ length: 8 }, (_, i) => i));
    engine.addSource(fakeSource({ id: 'p', kind: 'peer', data, layout, clock, rateBps: 1e6, pieces: half }));
    // 10 s a piece (far over the 3 s stall floor), with a block every 100 ms like a thin edge share.
    const edge = fakeSource({
      id: 'edge',
      kind: 'edge',
      data,
      layout,
      clock,
      rateBps: PIECE / 10,
      trickleMs: 100,
    });
    const cdn = fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 1e6 });
    engine.addSource(edge);
    engine.addSource(cdn);
    const { done } = await runEngine(engine, clock, 600_000);
    expect(done).toBe(true);
    expect(edge.requests.length).toBeGreaterThan(0);
    // Nothing the edge was fetching was handed to the CDN as well, and every edge piece was kept.
    expect(edge.requests.filter((i) => cdn.requests.includes(i))).toEqual([]);
    expect(engine.progress().bytesBySource.edge).toBe(edge.requests.length * PIECE);
    expect(engine.progress().wastedBytes).toBe(0);
  });

  it('an edge that goes silent mid-piece is freed a few seconds after its last block', async () => {
    const { data, layout } = makeRelease(16 * PIECE, PIECE, 14);
    const { clock, engine } = setup(layout, { requestTimeoutMs: 600_000, peerRateFloorMs: 600_000 });
    const half = new Set(Array.from({ length: 8 }, (_, i) => i));
    engine.addSource(fakeSource({ id: 'p', kind: 'peer', data, layout, clock, rateBps: 1e6, pieces: half }));
    const edge = fakeSource({
      id: 'edge',
      kind: 'edge',
      data,
      layout,
      clock,
      rateBps: 1e6,
      trickleMs: 100,
      silentAfterMs: 1000,
    });
    const cdn = fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 1e6 });
    engine.addSource(edge);
    engine.addSource(cdn);
    const { done, elapsed } = await runEngine(engine, clock, 120_000);
    expect(done).toBe(true);
    expect(edge.requests.length).toBeGreaterThan(0);
    // The CDN took over the edge's stuck pieces (1 s of blocks, then 3 s of silence each).
    for (const i of edge.requests) expect(cdn.requests).toContain(i);
    expect(engine.progress().bytesBySource.edge).toBe(0);
    expect(elapsed).toBeLessThan(20_000);
  });

  it('web-seed mode: the CDN is an ordinary source (no gate, no claims); swarm-first leaves it to the peer', async () => {
    const { data, layout } = makeRelease(24 * PIECE, PIECE, 15);
    const run = async (infrastructureMode: 'swarm-first' | 'web-seed') => {
      const { clock, engine } = setup(layout, { infrastructureMode, peerRateFloorMs: 600_000 });
      // A slow peer with every piece: swarm-first has nothing to inject, a web seed still serves.
      engine.addSource(fakeSource({ id: 'p', kind: 'peer', data, layout, clock, rateBps: PIECE / 2 }));
      const cdn = fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 1e6 });
      engine.addSource(cdn);
      let claims = 0;
      engine.on((e) => {
        if (e.type === 'infra-request') claims++;
      });
      const { done, elapsed } = await runEngine(engine, clock, 600_000);
      expect(done).toBe(true);
      return { elapsed, cdn: cdn.requests.length, claims, bytes: engine.progress().bytesBySource };
    };
    const swarmFirst = await run('swarm-first');
    expect(swarmFirst.cdn).toBe(0);
    const webSeed = await run('web-seed');
    expect(webSeed.cdn).toBeGreaterThanOrEqual(18);
    expect(webSeed.claims).toBe(0);
    expect(webSeed.bytes.cdn + webSeed.bytes['peer-same-isp']).toBe(layout.size);
    expect(webSeed.elapsed).toBeLessThan(swarmFirst.elapsed / 4);
  });

  it('endgame: a stalled request does not hold up completion', async () => {
    const { data, layout } = makeRelease(10 * PIECE, PIECE, 6);
    const { clock, engine } = setup(layout, { requestTimeoutMs: 600_000 });
    engine.addSource(
      fakeSource({
        id: 'staller',
        kind: 'peer',
        data,
        layout,
        clock,
        rateBps: 1e7,
        stall: new Set([3]),
        maxInFlight: 10,
      }),
    );
    engine.addSource(fakeSource({ id: 'ok', kind: 'peer', data, layout, clock, rateBps: 1e5 }));
    const { done, elapsed } = await runEngine(engine, clock);
    expect(done).toBe(true);
    expect(elapsed).toBeLessThan(60_000);
  });

  it('endgame does not race requests that are on time: no piece crosses two uploaders at once', async () => {
    const { data, layout } = makeRelease(4 * PIECE, PIECE, 16);
    const { clock, engine } = setup(layout);
    // Every piece goes out to `a` at once (300 ms each): all missing pieces are in flight, endgame.
    const a = fakeSource({
      id: 'a',
      kind: 'peer',
      data,
      layout,
      clock,
      rateBps: PIECE / 0.3,
      maxInFlight: 4,
    });
    engine.addSource(a);
    let done = false;
    void engine.run().then(() => {
      done = true;
    });
    await flush();
    expect(a.requests.sort((x, y) => x - y)).toEqual([0, 1, 2, 3]);
    // A faster peer joins: its link would carry copies of pieces that are arriving on time anyway.
    const b = fakeSource({ id: 'b', kind: 'peer', data, layout, clock, rateBps: 1e9, maxInFlight: 4 });
    engine.addSource(b);
    const elapsed = await clock.runUntil(() => done);
    expect(done).toBe(true);
    expect(b.requests).toEqual([]);
    expect(elapsed).toBeLessThanOrEqual(300);
    expect(engine.progress().wastedBytes).toBe(0);
  });

  it('resumes: pieces already verified are never requested', async () => {
    const { data, layout } = makeRelease(12 * PIECE, PIECE, 8);
    const have = new Bitfield(layout.pieces.length);
    for (const i of [0, 1, 2, 5, 7]) have.set(i);
    const { clock, engine } = setup(layout, {}, have);
    const cdn = fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 1e6 });
    engine.addSource(cdn);
    const { done } = await runEngine(engine, clock);
    expect(done).toBe(true);
    expect(cdn.requests.sort((a, b) => a - b)).toEqual([3, 4, 6, 8, 9, 10, 11]);
  });

  it('pause stops requests, resume continues', async () => {
    const { data, layout } = makeRelease(20 * PIECE, PIECE, 9);
    const { clock, engine } = setup(layout);
    const cdn = fakeSource({
      id: 'cdn',
      kind: 'cdn',
      data,
      layout,
      clock,
      rateBps: 16 * 1024,
      maxInFlight: 1,
    });
    engine.addSource(cdn);
    let done = false;
    void engine.run().then(() => {
      done = true;
    });
    await clock.runUntil(() => engine.progress().havePieces >= 3);
    engine.pause();
    const before = engine.progress().havePieces;
    await clock.runUntil(() => false, 60_000);
    expect(engine.progress().havePieces).toBe(before);
    engine.resume();
    await clock.runUntil(() => done);
    expect(done).toBe(true);
  });

  it('fails with NO_SOURCES when nothing arrives within the stall timeout', async () => {
    const { layout } = makeRelease(4 * PIECE, PIECE, 10);
    const { clock, engine } = setup(layout, { stallTimeoutMs: 10_000 });
    let error: unknown;
    void engine.run().catch((e: unknown) => {
      error = e;
    });
    await clock.runUntil(() => error !== undefined, 60_000);
    expect(error).toMatchObject({ code: 'NO_SOURCES' });
  });
});
