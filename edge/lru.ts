/**
 * A least-recently-used map bounded by total size (bytes), not entry count. Map iteration order is
 * insertion order, so re-inserting on access keeps the least recently used entry first.
 */
export interface SizedLru<V> {
  get(key: string): V | undefined;
  has(key: string): boolean;
  /** Inserts and evicts least recently used entries until the total fits. Returns evicted keys. */
  set(key: string, value: V, size: number): string[];
  delete(key: string): boolean;
  keys(): string[];
  readonly totalSize: number;
  readonly count: number;
}

export function createSizedLru<V>(capacity: number, onEvict?: (key: string, value: V) => void): SizedLru<V> {
  const entries = new Map<string, { value: V; size: number }>();
  let total = 0;
  const lru: SizedLru<V> = {
    get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      entries.delete(key);
      entries.set(key, entry);
      return entry.value;
    },
    has: (key) => entries.has(key),
    set(key, value, size) {
      lru.delete(key);
      const evicted: string[] = [];
      if (size > capacity) return evicted; // never cacheable: leave the cache as it is
      while (total + size > capacity) {
        const oldest = entries.keys().next().value as string;
        const entry = entries.get(oldest)!;
        entries.delete(oldest);
        total -= entry.size;
        evicted.push(oldest);
        onEvict?.(oldest, entry.value);
      }
      entries.set(key, { value, size });
      total += size;
      return evicted;
    },
    delete(key) {
      const entry = entries.get(key);
      if (!entry) return false;
      entries.delete(key);
      total -= entry.size;
      return true;
    },
    keys: () => [...entries.keys()],
    get totalSize() {
      return total;
    },
    get count() {
      return entries.size;
    },
  };
  return lru;
}
