import { describe, expect, it } from 'vitest';
import { publishFixture } from '../fixture-release.ts';
import { buildWorld, type SimWorld } from './harness.ts';

const KB = 1024;
const fixture = publishFixture({
  size: 512 * KB,
  pieceLength: 64 * KB,
  seed: 51,
  nowMs: Date.UTC(2026, 0, 1),
});
// An edge nobody runs: discovery must give up within the bounded init time and fail forward.
const DEAD_EDGE = `45.0.9.9:7000@${Buffer.alloc(32, 7).toString('base64')}`;

async function runAll(world: SimWorld, deadlineMs = 300_000) {
  world.startAll(100);
  const result = await world.sim.run({ until: () => world.devices.every((d) => d.done), deadlineMs });
  expect(result.reason).toBe('condition');
  for (const d of world.devices) {
    expect(d.error).toBeUndefined();
    expect(d.summary?.sha256).toBe(fixture.manifest.sha256);
  }
  const sum = (k: 'cdn' | 'edge' | 'peer') =>
    world.devices.reduce((s, d) => {
      const b = d.summary!.bytesBySource;
      return s + (k === 'peer' ? b['peer-same-isp'] + b['peer-other-isp'] : b[k]);
    }, 0);
  await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  return { cdn: sum('cdn'), edge: sum('edge'), peer: sum('peer') };
}

describe('fail-forward on the simulated network', () => {
  it('tracker down: devices complete from the edge and the CDN', async () => {
    const world = await buildWorld({ fixture, devices: 4, seed: 2, trackerUp: false, edge: {} });
    const bytes = await runAll(world);
    expect(bytes.edge).toBeGreaterThan(0);
    expect(bytes.peer).toBe(0);
  });

  it('edges down: devices complete from peers and the CDN', async () => {
    const world = await buildWorld({
      fixture,
      devices: 6,
      seed: 3,
      configFor: (_i, base) => ({ ...base, edges: [DEAD_EDGE] }),
    });
    const bytes = await runAll(world);
    expect(bytes.edge).toBe(0);
    expect(bytes.peer).toBeGreaterThan(0);
  });

  it('everything down but the CDN: devices complete from the CDN alone', async () => {
    const world = await buildWorld({
      fixture,
      devices: 3,
      seed: 4,
      trackerUp: false,
      configFor: (_i, base) => ({ ...base, edges: [DEAD_EDGE] }),
    });
    const bytes = await runAll(world);
    expect(bytes.cdn).toBe(3 * fixture.manifest.size);
  });
});

describe('seeding policy on the simulated network', () => {
  async function seederAndLeecher(policy: Parameters<typeof buildWorld>[0]['policy']) {
    const world = await buildWorld({ fixture, devices: 2, seed: 6, policy });
    const [seeder, leecher] = world.devices as [SimWorld['devices'][0], SimWorld['devices'][0]];
    // The seeder finishes first (alone, from the CDN), then the leecher arrives.
    world.startAll(20_000);
    await world.sim.run({ until: () => leecher.done, deadlineMs: 300_000 });
    expect(leecher.summary?.sha256).toBe(fixture.manifest.sha256);
    return { world, seeder, leecher };
  }

  it('stops at the configured upload ratio', async () => {
    const { world, seeder } = await seederAndLeecher({ seedRatio: 0.25, seedSeconds: null });
    await world.sim.run({
      until: () => Object.keys(seeder.agent.seedStops()).length > 0,
      deadlineMs: 60_000,
    });
    expect(Object.values(seeder.agent.seedStops())).toEqual(['ratio']);
    expect(seeder.agent.uploaded()).toBeGreaterThanOrEqual(0.25 * fixture.manifest.size);
    await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  });

  it('stops after the configured seeding time', async () => {
    const world = await buildWorld({
      fixture,
      devices: 1,
      seed: 7,
      policy: { seedRatio: null, seedSeconds: 30 },
    });
    const [device] = world.devices as [SimWorld['devices'][0]];
    world.startAll();
    await world.sim.run({ until: () => device.done, deadlineMs: 120_000 });
    const doneAt = world.sim.now();
    await world.sim.run({
      until: () => Object.keys(device.agent.seedStops()).length > 0,
      deadlineMs: 120_000,
    });
    expect(Object.values(device.agent.seedStops())).toEqual(['time']);
    expect(world.sim.now() - doneAt).toBeGreaterThanOrEqual(29_000);
    await world.sim.settle(device.agent.stop());
  });

  it('stops when the device leaves Wi-Fi or power (wifiOnly / powerOnly)', async () => {
    for (const [field, reason] of [
      ['wifi', 'left-wifi'],
      ['power', 'left-power'],
    ] as const) {
      const world = await buildWorld({
        fixture,
        devices: 1,
        seed: 8,
        policy: { seedRatio: null, seedSeconds: null, wifiOnly: true, powerOnly: true },
      });
      const [device] = world.devices as [SimWorld['devices'][0]];
      world.startAll();
      await world.sim.run({ until: () => device.done, deadlineMs: 120_000 });
      await world.sim.run({ deadlineMs: 20_000 });
      expect(device.agent.seedStops()).toEqual({});
      device.state.set({ [field]: false });
      await world.sim.run({
        until: () => Object.keys(device.agent.seedStops()).length > 0,
        deadlineMs: 30_000,
      });
      expect(Object.values(device.agent.seedStops())).toEqual([reason]);
      await world.sim.settle(device.agent.stop());
    }
  });
});
