/**
 * Smart start: remembers the bottleneck rate seen per network context (e.g. "isp=AS3320;type=lte")
 * so the next session starts near that rate instead of probing up from a few packets. Bounded (LRU)
 * and blended (exponential moving average) so one odd session does not dominate.
 */
export interface RateHistory {
  /** Remembered rate in bytes per second, or undefined. */
  get(context: string): number | undefined;
  record(context: string, bytesPerSecond: number): void;
}

export interface RateHistoryOptions {
  /** Contexts remembered (default 256). */
  maxEntries?: number;
  /** Weight of the newest observation (default 0.5). */
  weight?: number;
}

export function createRateHistory(options: RateHistoryOptions = {}): RateHistory {
  const maxEntries = options.maxEntries ?? 256;
  const weight = options.weight ?? 0.5;
  const rates = new Map<string, number>();
  return {
    get(context) {
      const rate = rates.get(context);
      if (rate === undefined) return undefined;
      rates.delete(context);
      rates.set(context, rate);
      return rate;
    },
    record(context, bytesPerSecond) {
      if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) return;
      const previous = rates.get(context);
      rates.delete(context);
      rates.set(
        context,
        previous === undefined ? bytesPerSecond : previous * (1 - weight) + bytesPerSecond * weight,
      );
      while (rates.size > maxEntries) {
        const oldest = rates.keys().next().value;
        if (oldest === undefined) break;
        rates.delete(oldest);
      }
    },
  };
}
