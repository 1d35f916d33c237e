import { Readable } from 'node:stream';
import type { ObjectStore } from '../../../release/index.ts';

/** Test double of release's ObjectStore contract, counting reads so tests can assert origin traffic. */
export interface MemoryStore extends ObjectStore {
  objects: Map<string, Uint8Array>;
  reads: Array<{ key: string; start: number; end: number }>;
  heads: number;
}

export function createMemoryStore(initial: Record<string, Uint8Array> = {}): MemoryStore {
  const objects = new Map(Object.entries(initial));
  const reads: MemoryStore['reads'] = [];
  const notFound = (key: string) => Object.assign(new Error(`no such key ${key}`), { code: 'NOT_FOUND' });
  const store: MemoryStore = {
    url: 'memory://test',
    objects,
    reads,
    heads: 0,
    async get(key, range) {
      const body = objects.get(key);
      if (!body) throw notFound(key);
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? body.length - 1, body.length - 1);
      reads.push({ key, start, end });
      // A real store answers asynchronously; yield so concurrent callers really overlap.
      await new Promise((r) => setImmediate(r));
      return body.slice(start, end + 1);
    },
    async getStream(key, range) {
      return Readable.from([Buffer.from(await store.get(key, range))]);
    },
    async head(key) {
      store.heads++;
      const body = objects.get(key);
      return body ? { size: body.length } : null;
    },
    async put(key, body) {
      if (body instanceof Uint8Array) objects.set(key, body);
      else {
        const parts: Buffer[] = [];
        for await (const p of body) parts.push(Buffer.from(p));
        objects.set(key, new Uint8Array(Buffer.concat(parts)));
      }
    },
    async list(prefix) {
      return [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
  };
  return store;
}
