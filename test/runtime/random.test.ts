import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../../runtime/index.ts';

describe('seeded random', () => {
  it('reproduces the same sequence from the same seed and differs across seeds', () => {
    const a = createSeededRandom(42);
    const b = createSeededRandom(42);
    const c = createSeededRandom(43);
    const seqA = Array.from({ length: 16 }, () => a.int(1_000_000));
    const seqB = Array.from({ length: 16 }, () => b.int(1_000_000));
    const seqC = Array.from({ length: 16 }, () => c.int(1_000_000));
    expect(seqA).toEqual(seqB);
    expect(seqA).not.toEqual(seqC);
  });

  it('is roughly uniform', () => {
    const r = createSeededRandom(7);
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) buckets[r.int(10)]++;
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });

  it('rejects a non-positive bound', () => {
    expect(() => createSeededRandom(1).int(0)).toThrow(RangeError);
  });
});

describe('node random', () => {
  it('float() stays in [0, 1) and int() in range', async () => {
    const { createNodeRandom } = await import('../../runtime/node/random.ts');
    const r = createNodeRandom();
    for (let i = 0; i < 1000; i++) {
      const f = r.float();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
      expect(r.int(7)).toBeLessThan(7);
    }
    expect(r.bytes(16)).toHaveLength(16);
  });
});
