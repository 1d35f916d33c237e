import type { Clock } from '../../runtime/index.ts';

/**
 * Upload rate cap shared by all peer connections of an agent. `take` resolves when the bytes may be
 * sent; waiting callers are served in order so one greedy peer cannot starve the others.
 */
export interface UploadLimiter {
  take(bytes: number): Promise<void>;
  setRate(bytesPerSecond: number): void;
}

export function createUploadLimiter(bytesPerSecond: number, components: { clock: Clock }): UploadLimiter {
  const { clock } = components;
  let rate = bytesPerSecond;
  let tokens = rate;
  let last = clock.now();
  const queue: Array<{ bytes: number; resolve: () => void }> = [];
  let timerSet = false;

  const refill = (): void => {
    const now = clock.now();
    // Burst of at most one second's worth, so the cap holds over any window longer than a second.
    tokens = Math.min(Math.max(rate, 1), tokens + ((now - last) * rate) / 1000);
    last = now;
  };

  const drain = (): void => {
    timerSet = false;
    refill();
    while (queue.length > 0) {
      const head = queue[0]!;
      if (rate > 0 && tokens < Math.min(head.bytes, Math.max(rate, 1))) break;
      queue.shift();
      tokens -= head.bytes;
      head.resolve();
    }
    if (queue.length > 0 && !timerSet) {
      timerSet = true;
      const need = Math.min(queue[0]!.bytes, Math.max(rate, 1)) - tokens;
      clock.setTimer(Math.max(1, (need / rate) * 1000), drain);
    }
  };

  return {
    take(bytes) {
      if (rate <= 0) return Promise.resolve();
      return new Promise((resolve) => {
        queue.push({ bytes, resolve });
        if (!timerSet) drain();
      });
    },
    setRate(bytesPerSecond) {
      rate = bytesPerSecond;
      if (!timerSet) drain();
    },
  };
}
