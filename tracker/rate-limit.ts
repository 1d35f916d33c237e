import type { Clock } from '../runtime/index.ts';

export interface RateLimitOptions {
  /** Sustained requests per second per client address. */
  perSecond: number;
  /** Bucket size: requests a client may make in a burst. */
  burst: number;
  /** Addresses tracked at once; the least recently seen are forgotten beyond this (bounded memory). */
  maxClients: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = { perSecond: 20, burst: 60, maxClients: 100_000 };

/** Per-address token bucket on the injected clock. */
export function createRateLimiter(options: RateLimitOptions, clock: Clock): { allow(key: string): boolean } {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    allow(key) {
      const now = clock.now();
      const bucket = buckets.get(key) ?? { tokens: options.burst, at: now };
      bucket.tokens = Math.min(options.burst, bucket.tokens + ((now - bucket.at) / 1000) * options.perSecond);
      bucket.at = now;
      buckets.delete(key);
      buckets.set(key, bucket);
      if (buckets.size > options.maxClients) {
        const oldest = buckets.keys().next().value;
        if (oldest !== undefined) buckets.delete(oldest);
      }
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
  };
}
