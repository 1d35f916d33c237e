import type { Clock, TimerHandle } from '../../../runtime/index.ts';

/** A clock tests advance by hand: timers fire in order inside `advance`. */
export interface ManualClock extends Clock {
  advance(ms: number): Promise<void>;
  pending(): number;
}

export function createManualClock(start = 1_700_000_000_000): ManualClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; callback: () => void }>();
  return {
    now: () => now,
    setTimer(delayMs, callback): TimerHandle {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, delayMs), callback });
      return { id };
    },
    clearTimer(handle) {
      timers.delete(handle.id);
    },
    pending: () => timers.size,
    async advance(ms) {
      const target = now + ms;
      for (;;) {
        let next: [number, { at: number; callback: () => void }] | undefined;
        for (const entry of timers)
          if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].callback();
        // Let promise continuations scheduled by the callback run before the next timer.
        for (let i = 0; i < 5; i++) await Promise.resolve();
      }
      now = target;
    },
  };
}
