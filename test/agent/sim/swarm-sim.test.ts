import { describe, expect, it } from 'vitest';
import { publishFixture } from '../fixture-release.ts';
import { buildWorld } from './harness.ts';

const MB = 1024 * 1024;

describe('agents on the simulated network (real tracker + CDN, virtual time)', () => {
  it('20 devices complete byte-exact, mostly from each other', async () => {
    const fixture = publishFixture({
      size: 1 * MB,
      pieceLength: 64 * 1024,
      seed: 41,
      nowMs: Date.UTC(2026, 0, 1),
    });
    const world = await buildWorld({ fixture, devices: 20, seed: 5 });
    world.startAll(200);
    const result = await world.sim.run({
      until: () => world.devices.every((d) => d.done),
      deadlineMs: 600_000,
    });
    const errors = world.devices.filter((d) => d.error).map((d) => String(d.error));
    expect(errors).toEqual([]);
    for (const d of world.devices) {
      expect(d.summary?.sha256).toBe(fixture.manifest.sha256);
      expect(await d.storage.sha256(d.summary!.path)).toBe(fixture.manifest.sha256);
    }
    const cdn = world.cdnBilling().objectBytes;
    const peerBytes = world.devices.reduce(
      (s, d) => s + d.summary!.bytesBySource['peer-same-isp'] + d.summary!.bytesBySource['peer-other-isp'],
      0,
    );
    expect(result.reason).toBe('condition');
    // Peers carry most of the bytes; the CDN serves a few copies at most (20 would be client-server).
    expect(peerBytes / fixture.manifest.size).toBeGreaterThan(12);
    expect(cdn / fixture.manifest.size).toBeLessThan(6);
    // Shutdown announces "stopped" over the simulated network, so it runs inside the simulation too.
    await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  }, 300_000);
});
