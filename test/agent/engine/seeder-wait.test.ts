import { describe, expect, it } from 'vitest';
import { Bitfield } from '../../../agent/engine/bitfield.ts';
import { createDownloadEngine } from '../../../agent/engine/download.ts';
import { createMemoryPieceStore } from '../../../agent/storage/piece-store.ts';
import { createSeededRandom, createSilentLogger } from '../../../runtime/index.ts';
import { fakeSource, ManualClock, makeRelease } from '../helpers.ts';

const PIECE = 16 * 1024;

/**
 * A device joins a running swarm: its tracker reports seeders, and the peer it connected to has not
 * sent its bitfield yet (a round trip or two away on a mobile link). The flash-crowd gate must not
 * read "no peer has anything yet" as "nobody can supply it" and fetch from infrastructure.
 */
/** An engine with the agent's start-up settings with a tracker (agent.ts): 200 ms hold, 3 s peer grace. */
function startUpEngine(seed: number) {
  const { data, layout } = makeRelease(16 * PIECE, PIECE);
  const clock = new ManualClock();
  const engine = createDownloadEngine(
    { infraHoldMs: 200, peerGraceMs: 3000 },
    {
      clock,
      random: createSeededRandom(seed),
      logger: createSilentLogger(),
      store: createMemoryPieceStore(),
      layout,
      have: new Bitfield(layout.pieces.length),
    },
  );
  return { data, layout, clock, engine };
}

/** Runs the download to the end and returns the bytes it took from each source class. */
async function complete({ engine, clock }: ReturnType<typeof startUpEngine>) {
  let done = false;
  void engine.run().then(() => {
    done = true;
  });
  await clock.runUntil(() => done, 60_000);
  expect(done).toBe(true);
  return engine.progress().bytesBySource;
}

async function join(swarmSeeders: number) {
  const world = startUpEngine(3);
  const { data, layout, clock, engine } = world;
  engine.setSwarmLeechers(3);
  engine.setSwarmSeeders(swarmSeeders);
  const pieces = new Set<number>();
  const peer = fakeSource({ id: 'peer:a', kind: 'peer', data, layout, clock, rateBps: 2e6, pieces });
  engine.addSource(peer);
  engine.addSource(fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 2e6 }));
  // The seeder's bitfield arrives 800 ms in.
  clock.setTimer(800, () => {
    for (let i = 0; i < layout.pieces.length; i++) peer.give(i);
  });
  return complete(world);
}

describe('joining a swarm that has seeders', () => {
  it('waits for the seeder bitfield instead of rolling the infrastructure gate', async () => {
    const bytes = await join(4);
    expect(bytes.cdn).toBe(0);
    expect(bytes['peer-same-isp']).toBe(16 * PIECE);
  });

  it('without seeders in the swarm, the gate rolls as before (the flash-crowd case)', async () => {
    const bytes = await join(0);
    expect(bytes.cdn).toBeGreaterThan(0);
  });
});

/**
 * A device arrives in a young NAT-heavy swarm: the tracker lists other devices, but its first peer
 * session takes a second to come up (punching through two NATs). Until then nothing it fetched could
 * be traded, so within the grace time the gate holds instead of rolling for every missing piece.
 */
async function arriveUnconnected(leechers: number, connectAtMs: number) {
  const world = startUpEngine(5);
  const { data, layout, clock, engine } = world;
  engine.setSwarmLeechers(leechers);
  engine.addSource(fakeSource({ id: 'cdn', kind: 'cdn', data, layout, clock, rateBps: 2e6 }));
  // The first peer (holding everything) comes up late; before that the device has no session.
  clock.setTimer(connectAtMs, () => {
    const pieces = new Set<number>(layout.pieces.map((_, i) => i));
    engine.addSource(fakeSource({ id: 'peer:a', kind: 'peer', data, layout, clock, rateBps: 2e6, pieces }));
  });
  return complete(world);
}

describe('arriving in a swarm before any peer session is up', () => {
  it('waits for the first peer within the grace time instead of pulling from infrastructure', async () => {
    const bytes = await arriveUnconnected(4, 1200);
    expect(bytes.cdn).toBe(0);
    expect(bytes['peer-same-isp']).toBe(16 * PIECE);
  });

  it('alone in the swarm (the tracker knows nobody else), it starts from infrastructure at once', async () => {
    const bytes = await arriveUnconnected(1, 1200);
    expect(bytes.cdn).toBeGreaterThan(0);
  });

  it('with no session by the end of the grace time, it fails forward to infrastructure', async () => {
    const bytes = await arriveUnconnected(4, 10_000);
    expect(bytes.cdn).toBe(16 * PIECE);
  });
});
