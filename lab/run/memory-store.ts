import { Readable } from 'node:stream';
import { type ObjectStore, StoreError } from '../../release/index.ts';

/**
 * The lab's origin during a virtual-time run: the objects the real publisher wrote, loaded into
 * memory. Reads from disk would finish in wall-clock order and make the order of events inside one
 * virtual instant (and so the run's figures) depend on the disk; memory keeps a seed reproducible.
 */
export async function loadMemoryStore(from: ObjectStore): Promise<ObjectStore> {
  const objects = new Map<string, Uint8Array>();
  for (const key of await from.list('')) objects.set(key, await from.get(key));
  const object = (key: string): Uint8Array => {
    const bytes = objects.get(key);
    if (!bytes) throw new StoreError('NOT_FOUND', `no object "${key}" in the lab store`);
    return bytes;
  };
  const slice = (bytes: Uint8Array, range?: { start: number; end: number }): Uint8Array => {
    if (!range) return bytes;
    if (range.start < 0 || range.end < range.start || range.start >= bytes.length)
      throw new StoreError(
        'RANGE_INVALID',
        `range ${range.start}-${range.end} outside 0-${bytes.length - 1}`,
      );
    return bytes.subarray(range.start, Math.min(range.end, bytes.length - 1) + 1);
  };
  return {
    url: `memory://${from.url}`,
    async get(key, range) {
      return slice(object(key), range);
    },
    async getStream(key, range) {
      return Readable.from([Buffer.from(slice(object(key), range))]);
    },
    async head(key) {
      const bytes = objects.get(key);
      return bytes ? { size: bytes.length } : null;
    },
    async put(key, body, options) {
      if (options?.ifAbsent && objects.has(key)) throw new StoreError('ALREADY_EXISTS', `"${key}" exists`);
      if (body instanceof Uint8Array) {
        objects.set(key, body);
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
      objects.set(key, Buffer.concat(chunks));
    },
    async list(prefix) {
      return [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
  };
}
