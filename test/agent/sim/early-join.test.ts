import { describe, expect, it } from 'vitest';
import { publishFixture } from '../fixture-release.ts';
import { buildWorld } from './harness.ts';

const fixtureOf = (size: number, pieceLength: number, seed: number) =>
  publishFixture({ size, pieceLength, seed, nowMs: Date.UTC(2026, 0, 1) });

type Request = (r: { url: string; method?: string }) => Promise<unknown>;

/** The device's first announce goes out on its own or inside the current-release call (currentAndJoin). */
const announces = (r: { url: string; method?: string }): boolean =>
  r.url.endsWith('/v1/announce') || (r.method === 'POST' && r.url.endsWith('/current'));

/** Puts `wrap(index, original)` in place of each device's HTTP request: to watch or delay its requests. */
function interceptHttp(
  world: Awaited<ReturnType<typeof buildWorld>>,
  wrap: (i: number, request: Request) => Request,
) {
  world.devices.forEach((d, i) => {
    const http = d.host.http as unknown as { request: Request };
    http.request = wrap(i, http.request.bind(http));
  });
}

describe('joining the swarm while the manifest downloads', () => {
  it('announces and forms peer sessions before the manifest is in, then completes over them', async () => {
    const fixture = fixtureOf(512 * 1024, 32 * 1024, 43);
    // A CDN so slow that the manifest takes seconds: everything that does not need it must not wait.
    const world = await buildWorld({ fixture, devices: 4, seed: 3, cdnRateBps: 4_000, edge: {} });
    const t0 = world.sim.clock.now();
    const seen = world.devices.map(() => ({ announce: -1, manifest: -1, firstAnnounceUrl: '' }));
    interceptHttp(world, (i, request) => (r) => {
      if (announces(r) && seen[i]!.announce < 0) {
        seen[i]!.announce = world.sim.clock.now() - t0;
        seen[i]!.firstAnnounceUrl = r.url;
      }
      return request(r).then((response) => {
        if (r.url.endsWith('manifest.json')) seen[i]!.manifest = world.sim.clock.now() - t0;
        return response;
      });
    });
    world.startAll(0);
    await world.sim.run({ until: () => world.devices.every((d) => d.done), deadlineMs: 300_000 });
    expect(world.devices.filter((d) => d.error).map((d) => String(d.error))).toEqual([]);
    for (const [i, d] of world.devices.entries()) {
      expect(d.summary?.sha256).toBe(fixture.manifest.sha256);
      expect(seen[i]!.manifest).toBeGreaterThan(1000);
      expect(seen[i]!.announce).toBeGreaterThanOrEqual(0);
      // The first announce rode in the current-release call (currentAndJoin), not a request of its own.
      expect(seen[i]!.firstAnnounceUrl).toMatch(/\/current$/);
      expect(seen[i]!.announce).toBeLessThan(seen[i]!.manifest);
    }
    // The sessions dialled before any manifest was in were kept and carried pieces.
    const peerBytes = world.devices.reduce(
      (s, d) => s + d.summary!.bytesBySource['peer-same-isp'] + d.summary!.bytesBySource['peer-other-isp'],
      0,
    );
    expect(peerBytes).toBeGreaterThan(fixture.manifest.size);
    const accepted = world.devices.reduce((s, d) => s + d.summary!.connections.accepted, 0);
    expect(accepted).toBeGreaterThan(0);
    await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  }, 120_000);

  it('starts infrastructure requests soon after the manifest: the start-up hold ran while it downloaded', async () => {
    const fixture = fixtureOf(64 * 1024, 16 * 1024, 44);
    const world = await buildWorld({ fixture, devices: 2, seed: 4, cdnRateBps: 4_000 });
    const seen = world.devices.map(() => ({ manifest: -1, range: -1 }));
    interceptHttp(world, (i, request) => (r) => {
      if (r.url.endsWith(fixture.manifest.object) && seen[i]!.range < 0)
        seen[i]!.range = world.sim.clock.now();
      return request(r).then((response) => {
        if (r.url.endsWith('manifest.json')) seen[i]!.manifest = world.sim.clock.now();
        return response;
      });
    });
    world.startAll(0);
    await world.sim.run({ until: () => seen.every((x) => x.range >= 0), deadlineMs: 60_000 });
    for (const x of seen) {
      expect(x.manifest).toBeGreaterThan(0);
      // The hold is 200 ms from the tracker's answer; the manifest took longer than that, so only
      // the floor (a bitfield round trip) is left of it.
      expect(x.range - x.manifest).toBeLessThan(150);
    }
    await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  }, 60_000);

  it('does not start the download before the first announce is answered, however late', async () => {
    const fixture = fixtureOf(256 * 1024, 32 * 1024, 45);
    const world = await buildWorld({ fixture, devices: 4, seed: 5, edge: {} });
    // A tracker from before the current-and-join call (the agent then asks for the release and
    // announces separately) that answers the first announce long after the manifest is in. With the
    // joined call the announce answer comes with the release, before the download can exist.
    let joinsRefused = 0;
    interceptHttp(world, (_, request) => {
      let first = true;
      return async (r) => {
        if (r.method === 'POST' && r.url.endsWith('/current')) {
          joinsRefused++;
          return {
            status: 404,
            headers: {},
            body: new TextEncoder().encode('{"error":{"code":"NOT_FOUND"}}'),
          };
        }
        const response = await request(r);
        if (r.url.endsWith('/v1/announce') && first) {
          first = false;
          await new Promise<void>((resolve) => world.sim.clock.setTimer(2000, resolve));
        }
        return response;
      };
    });
    world.startAll(0);
    await world.sim.run({ until: () => world.devices.every((d) => d.done), deadlineMs: 120_000 });
    expect(world.devices.filter((d) => d.error).map((d) => String(d.error))).toEqual([]);
    // Run before the answer, each device counted itself alone and took the release from infrastructure.
    for (const d of world.devices) expect(d.summary!.infraBytesByReason.alone).toBe(0);
    expect(joinsRefused).toBe(4);
    await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  }, 60_000);
});
