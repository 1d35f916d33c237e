import { describe, expect, it } from 'vitest';
import { publishFixture } from '../fixture-release.ts';
import { buildWorld, type SimWorld } from './harness.ts';

describe('address change mid-download (simulated network)', () => {
  it('a NAT rebinding (new external port) mid-download keeps the same peer session', async () => {
    const fixture = publishFixture({
      size: 1024 * 1024,
      pieceLength: 64 * 1024,
      seed: 81,
      nowMs: Date.UTC(2026, 0, 1),
    });
    const world = await buildWorld({
      fixture,
      devices: 2,
      seed: 12,
      natted: (i) => i === 1,
      // The leecher's download link is slow so the rebinding lands mid-download.
      policy: { seedRatio: null },
      deviceDownBps: 2_000_000,
    });
    const [seeder, leecher] = world.devices as [SimWorld['devices'][0], SimWorld['devices'][0]];
    void seeder.agent.fetch({ product: 'fw', channel: 'stable' }, { seed: true }).then(() => {
      seeder.done = true;
    });
    await world.sim.run({ until: () => seeder.done, deadlineMs: 120_000 });
    let haveAtFlush = -1;
    let peersAtFlush = 0;
    const leecherDone = leecher.agent.fetch(
      { product: 'fw', channel: 'stable' },
      {
        onJob: (job) =>
          job.engine.on((e) => {
            if (e.type === 'piece' && haveAtFlush < 0 && job.engine.progress().havePieces >= 5) {
              haveAtFlush = job.engine.progress().havePieces;
              peersAtFlush = job.engine.sourceIds().filter((id) => id.startsWith('peer:')).length;
              leecher.gateway!.nat.flush();
            }
          }),
      },
    );
    const summary = await world.sim.settle(leecherDone);
    expect(summary.sha256).toBe(fixture.manifest.sha256);
    expect(haveAtFlush).toBeGreaterThan(0);
    expect(peersAtFlush).toBe(1);
    // Everything after the rebinding still came from the seeder, over the session opened before it.
    expect(summary.bytesBySource['peer-other-isp'] + summary.bytesBySource['peer-same-isp']).toBeGreaterThan(
      (16 - haveAtFlush) * 64 * 1024 - 2 * 64 * 1024,
    );
    expect(summary.peakPeers).toBe(1);
    await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  });
});
