import type { Clock, TimerHandle } from '../../../runtime/index.ts';

/** A virtual clock for unit tests: time moves only when the test says so. */
export interface ManualClock extends Clock {
  /** Moves time forward, firing due timers in order and letting promise callbacks run between them. */
  advance(ms: number): Promise<void>;
  /** Advances until `promise` settles or `limitMs` of virtual time passes; returns the outcome. */
  drive<T>(promise: Promise<T>, limitMs?: number): Promise<T>;
  pending(): number;
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function createManualClock(start = 1_000_000): ManualClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; seq: number; callback: () => void }>();
  let seq = 0;
  const clock: ManualClock = {
    now: () => now,
    setTimer(delayMs, callback): TimerHandle {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, delayMs), seq: seq++, callback });
      return { id };
    },
    clearTimer(handle) {
      timers.delete(handle.id);
    },
    pending: () => timers.size,
    async advance(ms) {
      const target = now + ms;
      await flushMicrotasks();
      for (;;) {
        let dueId = -1;
        let due: { at: number; seq: number; callback: () => void } | undefined;
        for (const [id, t] of timers) {
          if (t.at > target) continue;
          if (!due || t.at < due.at || (t.at === due.at && t.seq < due.seq)) {
            due = t;
            dueId = id;
          }
        }
        if (!due) break;
        timers.delete(dueId);
        now = Math.max(now, due.at);
        due.callback();
        await flushMicrotasks();
      }
      now = target;
    },
    async drive(promise, limitMs = 120_000) {
      let settled = false;
      promise.then(
        () => {
          settled = true;
        },
        () => {
          settled = true;
        },
      );
      const step = 10;
      for (let t = 0; t < limitMs && !settled; t += step) await clock.advance(step);
      return promise;
    },
  };
  return clock;
}
