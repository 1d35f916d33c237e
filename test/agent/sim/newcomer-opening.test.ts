import { describe, expect, it } from 'vitest';
import { publishFixture } from '../fixture-release.ts';
import { buildWorld, watchFirstPeerPiece } from './harness.ts';

const fixture = publishFixture({
  size: 256 * 1024,
  // One block per piece, inside a session's first window: the wait measured is round trips alone.
  pieceLength: 16 * 1024,
  seed: 61,
  nowMs: Date.UTC(2026, 0, 1),
});
/** Each device link's one-way delay: two devices are 4 x this apart in round-trip time. */
const DELAY_MS = 100;
const PEER_RTT_MS = 4 * DELAY_MS;

describe("a newcomer's BitTorrent wire, opened by the seeder that pushes it the manifest", () => {
  it('its first piece from that seeder arrives about one round trip after the manifest, not two', async () => {
    const world = await buildWorld({ fixture, devices: 2, seed: 5, deviceDelayMs: DELAY_MS });
    const { at, options } = watchFirstPeerPiece(world);
    world.startDevice(0, 0);
    // The newcomer arrives once the first device seeds: its only peer holds the manifest and every piece.
    world.startDevice(1, 5_000, options);
    await world.sim.run({ until: () => world.devices.every((d) => d.done), deadlineMs: 120_000 });
    expect(world.devices.filter((d) => d.error).map((d) => String(d.error))).toEqual([]);
    const newcomer = world.devices[1]!.summary!;
    expect(newcomer.sha256).toBe(fixture.manifest.sha256);
    expect(newcomer.manifestFrom).toBe('peer');
    expect(at.jobOpen).toBeGreaterThan(0);
    // Dialer-opened, the wire's opening left only once the manifest was in, and the seeder's unchoke
    // came back a round trip later: the first piece took two round trips from here. Opened by the
    // seeder, handshake, bitfield and unchoke came with the manifest: one round trip and the piece's
    // transfer (16 KiB at 10 Mbit/s, ~15 ms).
    const wait = at.firstPeerPiece - at.jobOpen;
    expect(wait).toBeGreaterThan(PEER_RTT_MS);
    expect(wait).toBeLessThan(1.5 * PEER_RTT_MS);
    await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  }, 60_000);
});
