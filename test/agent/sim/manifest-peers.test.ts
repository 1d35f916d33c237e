import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishFixture } from '../fixture-release.ts';
import { buildWorld, type SimWorld } from './harness.ts';

const fixture = publishFixture({
  size: 256 * 1024,
  pieceLength: 32 * 1024,
  seed: 47,
  nowMs: Date.UTC(2026, 0, 1),
});
const MANIFEST_BYTES = readFileSync(join(fixture.dir, fixture.channel.manifest)).length;

type Request = (r: { url: string }) => Promise<unknown>;

/** When each device asked for the signed manifest over HTTP (CDN or mirror), by device. */
function watchManifestRequests(world: SimWorld): number[][] {
  const times = world.devices.map((): number[] => []);
  world.devices.forEach((d, i) => {
    const http = d.host.http as unknown as { request: Request };
    const request = http.request.bind(http);
    http.request = (r) => {
      if (r.url.endsWith('manifest.json')) times[i]!.push(world.sim.clock.now());
      return request(r);
    };
  });
  return times;
}

/** Starts device `i` (seeding after) at `atMs`; `onJob` sees its download once open. */
function start(
  world: SimWorld,
  i: number,
  atMs: number,
  onJob?: (release: { manifestBytes: Uint8Array }) => void,
) {
  world.startDevice(i, atMs, onJob ? { onJob: (job) => onJob(job.release) } : {});
}

async function runToEnd(world: SimWorld): Promise<void> {
  const beat = (): void => {
    if (!world.devices.every((d) => d.done)) world.sim.clock.setTimer(50, beat);
  };
  beat();
  await world.sim.run({ until: () => world.devices.every((d) => d.done), deadlineMs: 120_000 });
  expect(world.devices.filter((d) => d.error).map((d) => String(d.error))).toEqual([]);
  for (const d of world.devices) expect(d.summary?.sha256).toBe(fixture.manifest.sha256);
}

describe('the manifest from the swarm instead of the CDN', () => {
  it('devices joining a running swarm take the manifest from peers, never asking the CDN for it', async () => {
    const world = await buildWorld({ fixture, devices: 4, seed: 7 });
    const asked = watchManifestRequests(world);
    start(world, 0, 0);
    // The others arrive once the first holds pieces (the tracker lists it with them).
    for (const i of [1, 2, 3]) start(world, i, 1500 + 100 * i);
    await runToEnd(world);
    // The first device was alone: the CDN served its manifest at once (no wait for peers).
    expect(world.devices[0]!.summary!.manifestFrom).toBe('cdn');
    expect(asked[0]!.length).toBe(1);
    for (const i of [1, 2, 3]) {
      const s = world.devices[i]!.summary!;
      expect(s.manifestFrom).toBe('peer');
      expect(asked[i]!.length).toBe(0);
      // Its bytes count as peer bytes beside the pieces': what the sources hold over the pieces taken.
      const total = Object.values(s.bytesBySource).reduce((a, b) => a + b, 0);
      expect(total - s.downloadedBytes).toBe(MANIFEST_BYTES);
      const peer = s.bytesBySource['peer-same-isp'] + s.bytesBySource['peer-other-isp'];
      expect(peer - s.downloadedBytes).toBeGreaterThanOrEqual(MANIFEST_BYTES);
    }
    await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  }, 60_000);

  it('a peer serving a corrupted manifest is caught; the device takes it from the CDN and finishes', async () => {
    const world = await buildWorld({ fixture, devices: 2, seed: 8 });
    const asked = watchManifestRequests(world);
    // Device 0 verifies its manifest, then the bytes it serves to peers are altered under it.
    start(world, 0, 0, (release) => {
      release.manifestBytes[40]! ^= 0x20;
    });
    const t0 = world.sim.clock.now();
    start(world, 1, 1500);
    await runToEnd(world);
    const victim = world.devices[1]!.summary!;
    expect(victim.connections.badManifests).toBe(1);
    expect(victim.manifestFrom).toBe('cdn');
    // The lie cost at most the 2 s budget from the pointer's arrival, then the CDN served it.
    expect(asked[1]!.length).toBe(1);
    expect(asked[1]![0]! - (t0 + 1500)).toBeLessThan(2000 + 200);
    // The liar is refused in the swarm: every piece came from infrastructure.
    expect(victim.bytesBySource['peer-same-isp'] + victim.bytesBySource['peer-other-isp']).toBe(0);
    await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  }, 60_000);
});
