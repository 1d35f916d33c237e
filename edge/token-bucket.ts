import type { Clock } from '../runtime/index.ts';

/**
 * A byte-rate limiter over the injected Clock: `take(n)` resolves when n bytes may be sent. Waiters are
 * served first-come first-served so one large response cannot starve the others. Used for the CDN's
 * flash-crowd rate cap and the edge's per-session and total egress caps.
 */
export interface TokenBucket {
  /** Resolves once `bytes` tokens were taken. Requests larger than the burst are allowed (they wait longer). */
  take(bytes: number): Promise<void>;
  /** Takes tokens if available now, without waiting. */
  tryTake(bytes: number): boolean;
  readonly bytesPerSecond: number;
}

export function createTokenBucket(
  options: { bytesPerSecond: number; burstBytes?: number },
  components: { clock: Clock },
): TokenBucket {
  const { clock } = components;
  const rate = options.bytesPerSecond;
  if (!(rate > 0)) throw new RangeError('bytesPerSecond must be positive');
  // Default burst: 50 ms of traffic, at least 64 KiB, so short timer jitter does not cost throughput.
  const burst = options.burstBytes ?? Math.max(64 * 1024, rate * 0.05);
  let tokens = burst;
  let last = clock.now();
  const waiters: Array<{ bytes: number; resolve: () => void }> = [];
  let timerArmed = false;

  const refill = (): void => {
    const now = clock.now();
    tokens = Math.min(burst, tokens + ((now - last) * rate) / 1000);
    last = now;
  };

  const pump = (): void => {
    refill();
    while (waiters.length > 0) {
      const head = waiters[0]!;
      // A request above the burst is admitted once the bucket is full, driving tokens negative (debt).
      const need = Math.min(head.bytes, burst);
      if (tokens < need) break;
      tokens -= head.bytes;
      waiters.shift();
      head.resolve();
    }
    if (waiters.length > 0 && !timerArmed) {
      const need = Math.min(waiters[0]!.bytes, burst) - tokens;
      timerArmed = true;
      clock.setTimer(Math.max(1, Math.ceil((need * 1000) / rate)), () => {
        timerArmed = false;
        pump();
      });
    }
  };

  return {
    bytesPerSecond: rate,
    take(bytes) {
      if (waiters.length === 0) {
        refill();
        if (tokens >= Math.min(bytes, burst)) {
          tokens -= bytes;
          return Promise.resolve();
        }
      }
      return new Promise<void>((resolve) => {
        waiters.push({ bytes, resolve });
        pump();
      });
    },
    tryTake(bytes) {
      if (waiters.length > 0) return false;
      refill();
      if (tokens < Math.min(bytes, burst)) return false;
      tokens -= bytes;
      return true;
    },
  };
}
