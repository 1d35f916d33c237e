import type { Clock, TimerHandle } from '../clock.ts';

/**
 * Wall-clock time and Node timers. Timers are unref'd so a pending timer never keeps a CLI alive.
 * A timer that is already due runs on `setImmediate`: Node clamps `setTimeout(0)` to 1 ms, which
 * made every "yield, then carry on" of the transport driver (after each burst of datagrams) idle
 * for a millisecond.
 */
export function createNodeClock(): Clock {
  let nextId = 1;
  const timers = new Map<number, { timeout: NodeJS.Timeout } | { immediate: NodeJS.Immediate }>();
  return {
    now: () => Date.now(),
    setTimer(delayMs, callback): TimerHandle {
      const id = nextId++;
      const fire = (): void => {
        timers.delete(id);
        callback();
      };
      if (delayMs <= 0) timers.set(id, { immediate: setImmediate(fire).unref() });
      else timers.set(id, { timeout: setTimeout(fire, delayMs).unref() });
      return { id };
    },
    clearTimer(handle) {
      const timer = timers.get(handle.id);
      if (!timer) return;
      if ('immediate' in timer) clearImmediate(timer.immediate);
      else clearTimeout(timer.timeout);
      timers.delete(handle.id);
    },
  };
}
