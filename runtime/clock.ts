/** Opaque handle returned by {@link Clock.setTimer}. */
export interface TimerHandle {
  readonly id: number;
}

/**
 * Time as components see it. Real implementations wrap Date.now/setTimeout; the lab's virtual clock
 * jumps from timer to timer. Components never read real time directly, so the same code runs in both.
 */
export interface Clock {
  /** Milliseconds since an arbitrary epoch (Unix epoch for the real clock). Monotonic non-decreasing. */
  now(): number;
  /** Calls `callback` once, `delayMs` from now. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Resolves after `ms` on the given clock; rejects with the signal's reason if aborted first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimer(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Races a promise against a clock deadline. */
export function withTimeout<T>(
  clock: Clock,
  ms: number,
  promise: Promise<T>,
  onTimeout: () => Error,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const handle = clock.setTimer(ms, () => reject(onTimeout()));
    promise.then(
      (value) => {
        clock.clearTimer(handle);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimer(handle);
        reject(error);
      },
    );
  });
}
