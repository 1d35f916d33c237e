import { describe, expect, it } from 'vitest';
import { createTrackerAnnouncer, createTrackerClient, type TrackerEdgeInfo } from '../../edge/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { buildTracker, createMemorySwarmStore, createStaticCatalogue } from '../../tracker/index.ts';
import { injectHttp } from './helpers/inject-http.ts';
import { createManualClock } from './helpers/manual-clock.ts';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');

function setup() {
  const clock = createManualClock();
  const tracker = buildTracker(
    { edgeToken: 'edge-secret' },
    {
      clock,
      random: createSeededRandom(1),
      logger: createSilentLogger(),
      swarmStore: createMemorySwarmStore({ random: createSeededRandom(2), now: () => clock.now() }),
      catalogue: createStaticCatalogue([]),
    },
  );
  const http = injectHttp(tracker.app);
  const client = createTrackerClient({ trackerUrl: 'http://tracker.test', token: 'edge-secret' }, { http });
  return { clock, tracker, http, client };
}

const edge = (id: string, load: number, region = 'eu', n = 1): TrackerEdgeInfo => ({
  id,
  address: { host: `10.0.0.${n}`, port: 7000 },
  publicKey: key(n),
  region,
  load,
  capacity: 125_000_000,
});

describe('tracker client (against the real tracker app)', () => {
  it('registers, heartbeats and lists edges; a forgotten edge is told to register again', async () => {
    const { client, clock } = setup();
    expect((await client.register(edge('e1', 0.1))).heartbeatIntervalMs).toBeGreaterThan(0);
    await client.register(edge('e2', 0.5, 'eu', 2));
    expect(await client.heartbeat('e1', 0.2)).not.toBeNull();
    const listed = await client.listEdges('eu', 5);
    expect(listed.map((e) => e.id)).toEqual(['e1', 'e2']);
    expect(listed[0]).toMatchObject({
      load: 0.2,
      publicKey: key(1),
      address: { host: '10.0.0.1', port: 7000 },
    });
    await clock.advance(10 * 60_000);
    expect(await client.heartbeat('e1', 0.2)).toBeNull();
  });

  it('is refused without the edge token', async () => {
    const { http } = setup();
    const rogue = createTrackerClient({ trackerUrl: 'http://tracker.test' }, { http });
    await expect(rogue.register(edge('e9', 0))).rejects.toMatchObject({ code: 'TRACKER_REJECTED' });
  });

  it('the announcer keeps an edge registered across a tracker that forgot it, and learns its peers', async () => {
    const { client, clock } = setup();
    await client.register(edge('other', 0.05, 'eu', 2));
    let load = 0.3;
    const announcer = createTrackerAnnouncer(
      { self: () => edge('me', load) },
      { client, clock, logger: createSilentLogger() },
    );
    await announcer.beat();
    expect(announcer.peers().map((p) => p.id)).toEqual(['other']);
    load = 0.9;
    await announcer.beat();
    expect((await client.listEdges('eu', 5)).find((e) => e.id === 'me')?.load).toBe(0.9);
    await clock.advance(10 * 60_000); // both expire
    await announcer.beat(); // heartbeat 404 -> re-register
    expect((await client.listEdges('eu', 5)).map((e) => e.id)).toEqual(['me']);
    expect(announcer.peers()).toEqual([]);
  });
});
