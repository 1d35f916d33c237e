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
