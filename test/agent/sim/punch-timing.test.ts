import { describe, expect, it } from 'vitest';
import { natPresets } from '../../../lab/sim/index.ts';
import { publishFixture } from '../fixture-release.ts';
import { buildWorld, watchFirstPeerPiece } from './harness.ts';

const KB = 1024;
const fixture = publishFixture({
  size: 256 * KB,
  pieceLength: 16 * KB,
  seed: 83,
  nowMs: Date.UTC(2026, 0, 1),
});
/** Each device link's one-way delay: the tracker is about 2 x this away in round-trip time. */
const DELAY_MS = 40;

describe('hole punching starts as soon as the tracker answers', () => {
  it("a newcomer behind a port-restricted NAT gets its first punched peer's piece within a few round trips", async () => {
    // Both devices sit behind port-restricted cone NATs without port mapping: they meet only through
    // a punch. The CDN is slow, so the newcomer's pieces come from the seeder once the punch is done.
    const world = await buildWorld({
      fixture,
      devices: 2,
      seed: 13,
      deviceDelayMs: DELAY_MS,
      natted: () => true,
      gatewayFor: () => ({ nat: natPresets.portRestricted }),
      rendezvous: true,
      edge: { capacityBytesPerSecond: 1 }, // a STUN server on a second IP; serves (almost) nothing
      cdnRateBps: 20 * KB,
    });
    const newcomerStart = 20_000;
    const { at, options } = watchFirstPeerPiece(world);
    let started = -1;
    world.startDevice(0, 0);
    world.sim.clock.setTimer(newcomerStart, () => {
      started = world.sim.clock.now();
    });
    world.startDevice(1, newcomerStart, options);
    await world.sim.run({ until: () => world.devices.every((d) => d.done), deadlineMs: 300_000 });
    expect(world.devices.filter((d) => d.error).map((d) => String(d.error))).toEqual([]);
    const newcomer = world.devices[1]!.summary!;
    expect(newcomer.sha256).toBe(fixture.manifest.sha256);
    expect(newcomer.connections.punched).toBeGreaterThan(0);
    const firstPiece = at.firstPeerPiece - started;
    // Start-up is the tracker's answer (a TCP and an HTTP round trip), the NAT probe (run beside that
    // answer, its silent tests waiting a few round trips), the rendezvous session (opened beside the
    // probe), registration and the punch request (one round trip: the request follows the
    // registration without waiting for its answer), the punch itself and the peer session. Before,
    // each of these waited for the last, and the probe's silent tests for 2.5 s: the first punched
    // piece came about 3.5 s after the start.
    expect(firstPiece).toBeGreaterThan(0);
    expect(firstPiece).toBeLessThan(2_000);
    await world.sim.settle(Promise.all(world.devices.map((x) => x.agent.stop())));
  }, 120_000);
});
