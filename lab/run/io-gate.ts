import { createHook } from 'node:async_hooks';

/** Async resource types of real file-system requests (callback and promise APIs, streams use these). */
const FS_TYPES = new Set(['FSREQCALLBACK', 'FSREQPROMISE', 'STATWATCHER']);

/**
 * Agents, edges and the store do real file I/O (sparse files, atomic state files, piece caches) while
 * the network runs in virtual time. Virtual time must not jump while such I/O is in flight, or a
 * device whose write took 2 ms of wall time would appear to have stalled for minutes. This gate
 * watches file-system requests process-wide (async_hooks) and, while any is in flight, hands the
 * simulation a promise to hold time still on. Only the lab uses it.
 */
export function createIoGate(hold: (promise: Promise<void>) => void): { close(): void } {
  const inFlight = new Set<number>();
  let release: (() => void) | undefined;
  const hook = createHook({
    init(asyncId, type) {
      if (!FS_TYPES.has(type)) return;
      inFlight.add(asyncId);
      if (release === undefined) {
        const idle = new Promise<void>((resolve) => {
          release = resolve;
        });
        hold(idle);
      }
    },
    destroy(asyncId) {
      if (!inFlight.delete(asyncId)) return;
      if (inFlight.size === 0 && release) {
        const r = release;
        release = undefined;
        r();
      }
    },
  });
  hook.enable();
  return {
    close() {
      hook.disable();
      inFlight.clear();
      release?.();
      release = undefined;
    },
  };
}
