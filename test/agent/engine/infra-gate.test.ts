import { describe, expect, it } from 'vitest';
import { createInfraGate } from '../../../agent/engine/infra-gate.ts';
import { createSeededRandom } from '../../../runtime/index.ts';
import { ManualClock } from '../helpers.ts';

function gate(
  options: Partial<{ holdMs: number; roundMs: number; roundClaims: number; claimHorizon: number }> = {},
) {
  const clock = new ManualClock();
  let wakes = 0;
  const g = createInfraGate(
    { holdMs: 200, roundMs: 250, roundClaims: 8, claimHorizon: 64, ...options },
    { clock, random: createSeededRandom(3), wake: () => wakes++ },
  );
  return { clock, g, wakes: () => wakes };
}

// Connected to the whole neighbourhood (heard = neighbours): the hearing factor is 1.
const crowd = { unclaimed: 32, neighbours: 49, heard: 49, alone: false };

type View = { unclaimed: number; neighbours: number; heard: number; alone: boolean };

/** Share of `rolls` rounds in which the gate opened, stepping past each jittered round (0.5–1.5 x 250 ms). */
async function openRate(
  rolls: number,
  view: View,
  options: Parameters<typeof gate>[0] = {},
): Promise<number> {
  const { clock, g } = gate({ holdMs: 0, ...options });
  g.start();
  let opened = 0;
  for (let round = 0; round < rolls; round++) {
    if (g.open(() => view)) opened++;
    await clock.runUntil(() => false, 400);
  }
  return opened / rolls;
}

describe('flash-crowd infrastructure gate', () => {
  it('holds during start-up, then wakes the engine to roll', async () => {
    const { clock, g, wakes } = gate({ roundClaims: 1000 });
    g.start();
    expect(g.open(() => crowd)).toBe(false);
    await clock.runUntil(() => wakes() > 0);
    expect(wakes()).toBe(1);
    // roundClaims far above n + 1: the roll always succeeds once the hold is over.
    expect(g.open(() => crowd)).toBe(true);
  });

  it('a device alone opens at once, hold or not', () => {
    const { g } = gate();
    g.start();
    expect(g.open(() => ({ unclaimed: 5, neighbours: 0, heard: 0, alone: true }))).toBe(true);
  });

  it('stays shut while every missing piece is claimed nearby', () => {
    const { g } = gate({ holdMs: 0, roundClaims: 1000 });
    g.start();
    expect(g.open(() => ({ unclaimed: 0, neighbours: 3, heard: 3, alone: false }))).toBe(false);
  });

  it('a crowd of n opens with probability min(m, roundClaims) / (n + 1) per round', async () => {
    const rate = await openRate(2000, crowd);
    expect(rate).toBeGreaterThan(0.13);
    expect(rate).toBeLessThan(0.19); // 8 / 50 = 0.16
  });

  it('beyond the claim horizon the whole swarm budget shrinks: 1,000 devices start ~R x 64/1000 per round', async () => {
    const huge = { unclaimed: 32, neighbours: 999, heard: 999, alone: false };
    const rate = await openRate(20_000, huge, { roundClaims: 32 });
    // Unscaled this would be 32 / 1000 per device (32 per round swarm-wide); scaled, 32 x 64 / 1000^2.
    const expected = (32 * 64) / 1000 / 1000;
    expect(rate).toBeGreaterThan(expected * 0.6);
    expect(rate).toBeLessThan(expected * 1.5);
  });

  it('a device that hears few of its neighbours rolls in proportion: (heard + 1) / (n + 1)', async () => {
    // Early in a NAT-heavy crowd: the tracker counts 19 others, but only one session is up, so the
    // claims of the other 18 are not heard. Unscaled, p = min(32, 8) / 20 = 0.4; heard by 2 of 20, 0.04.
    const rate = await openRate(5000, { unclaimed: 32, neighbours: 19, heard: 1, alone: false });
    expect(rate).toBeGreaterThan(0.028);
    expect(rate).toBeLessThan(0.055);
  });

  it('a failed roll is not re-rolled before its jittered round is over', () => {
    const { g } = gate({ holdMs: 0, roundClaims: 1 });
    g.start();
    const view = () => ({ unclaimed: 10, neighbours: 10_000, heard: 10_000, alone: false });
    let first = true;
    // With p = 1/10001 the first roll fails; a second call at the same moment must not roll again.
    while (first && g.open(view)) first = false;
    let calls = 0;
    const counted = () => {
      calls++;
      return view();
    };
    expect(g.open(counted)).toBe(false);
    expect(calls).toBe(0);
  });

  it('a won roll also waits its round: even at p = 1 a device starts one request per round', async () => {
    // A small neighbourhood next to a fast CDN: p reaches 1, and each request lands in ~50 ms.
    const { clock, g } = gate({ holdMs: 0, roundClaims: 1000 });
    g.start();
    const small = { unclaimed: 20, neighbours: 3, heard: 3, alone: false };
    expect(g.open(() => small)).toBe(true);
    expect(g.open(() => small)).toBe(false);
    let opened = 1;
    // Poll as often as request completions would: every 50 ms for 10 mean rounds (2.5 s).
    for (let t = 0; t < 2500; t += 50) {
      clock.setTimer(50, () => {});
      await clock.runUntil(() => false, 50);
      if (g.open(() => small)) opened++;
    }
    // One per 0.5–1.5 rounds: about 10, never the 50 a roll per completion would give.
    expect(opened).toBeGreaterThanOrEqual(7);
    expect(opened).toBeLessThanOrEqual(14);
  });
});
