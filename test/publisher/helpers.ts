import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ObjectStore, openStore } from '../../release/index.ts';
import type { Clock, TimerHandle } from '../../runtime/index.ts';

/** A clock that only moves when the test says so. */
export function fixedClock(start = Date.parse('2026-03-01T12:00:00Z')): Clock & { set(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    set: (ms: number) => {
      now = ms;
    },
    setTimer: (): TimerHandle => ({ id: 0 }),
    clearTimer: () => {},
  };
}

/** Deterministic pseudo-random bytes (xorshift), so tests need no real randomness. */
export function pseudoRandomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export interface Workspace {
  dir: string;
  storeUrl: string;
  store: ObjectStore;
  file(name: string, bytes: Uint8Array): string;
}

export function workspace(): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'swarmlane-pub-'));
  const storeUrl = pathToFileURL(join(dir, 'store')).href;
  return {
    dir,
    storeUrl,
    store: openStore(storeUrl),
    file(name, bytes) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      return path;
    },
  };
}

/** Wraps a store so a test can make chosen operations fail. */
export function faultyStore(
  inner: ObjectStore,
  fault: {
    put?: (key: string) => Error | 'consume-then-fail' | undefined;
    get?: (key: string) => Error | undefined;
  },
): ObjectStore {
  return {
    ...inner,
    url: inner.url,
    async get(key, range) {
      const error = fault.get?.(key);
      if (error) throw error;
      return inner.get(key, range);
    },
    async put(key, body, options) {
      const error = fault.put?.(key);
      if (error === 'consume-then-fail') {
        // Read part of the stream, as an upload cut off halfway would, then fail.
        if (!(body instanceof Uint8Array)) for await (const _ of body) break;
        throw new Error('connection reset during upload');
      }
      if (error) throw error;
      return inner.put(key, body, options);
    },
  };
}
