import type { RateSample } from './controller.ts';

/** Rounds a delivery-rate sample stays in the filter (BBR's bottleneck-bandwidth window). */
const WINDOW_ROUNDS = 10;

/**
 * Windowed maximum of delivery-rate samples over the last WINDOW_ROUNDS round trips (BBR's
 * bottleneck-bandwidth filter). An app-limited sample under-measures the path, so it counts only when
 * it raises the maximum. One entry per round, so the cost is O(window) however many ACKs arrive.
 */
export interface RateFilter {
  add(sample: RateSample): void;
  /** Bytes per second; 0 before the first sample. */
  max(): number;
}

export function createRateFilter(): RateFilter {
  const rounds: Array<{ round: number; rate: number }> = [];
  let round = 0;
  let nextRoundDelivered = 0;
  let best = 0;
  return {
    add(sample) {
      if (sample.priorDelivered >= nextRoundDelivered) {
        nextRoundDelivered = sample.delivered;
        round++;
        let expired = false;
        while (rounds.length > 0 && rounds[0]!.round <= round - WINDOW_ROUNDS) {
          rounds.shift();
          expired = true;
        }
        if (expired) {
          best = 0;
          for (const r of rounds) if (r.rate > best) best = r.rate;
        }
      }
      if (sample.isAppLimited && sample.deliveryRate <= best) return;
      const last = rounds[rounds.length - 1];
      if (last !== undefined && last.round === round) last.rate = Math.max(last.rate, sample.deliveryRate);
      else rounds.push({ round, rate: sample.deliveryRate });
      if (sample.deliveryRate > best) best = sample.deliveryRate;
    },
    max: () => best,
  };
}
