/**
 * Concurrent calls for the same key share one in-flight promise: fifty devices missing one piece cause
 * one origin fetch (the CDN "core region" behaviour). The entry is dropped when the promise settles, so
 * a failure is retried by the next caller rather than cached.
 */
export function createCoalescer<T>(): {
  run(key: string, work: () => Promise<T>): Promise<T>;
  inFlight(): number;
} {
  const pending = new Map<string, Promise<T>>();
  return {
    run(key, work) {
      const existing = pending.get(key);
      if (existing) return existing;
      const promise = work().finally(() => pending.delete(key));
      pending.set(key, promise);
      return promise;
    },
    inFlight: () => pending.size,
  };
}
