/**
 * A set of non-negative integers stored as sorted, disjoint, non-adjacent inclusive ranges. Used for
 * received packet numbers (ACK ranges and the replay window), acknowledged stream bytes and received
 * block sequence numbers. Bounded: when more than `maxRanges` ranges exist, the lowest are dropped and
 * everything below the new floor counts as present (so old duplicates stay rejected).
 */
export interface Range {
  start: number;
  end: number;
}

export class RangeSet {
  /** Ascending by start. */
  readonly ranges: Range[] = [];
  /** Every value below this is treated as already present (forgotten to bound memory). */
  floor = 0;

  constructor(readonly maxRanges = 1024) {}

  has(value: number): boolean {
    if (value < this.floor) return true;
    const r = this.ranges;
    let lo = 0;
    let hi = r.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const range = r[mid]!;
      if (value < range.start) hi = mid - 1;
      else if (value > range.end) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** Adds [start, end]; returns true if any value in it was new. */
  add(start: number, end = start): boolean {
    if (end < this.floor) return false;
    if (start < this.floor) start = this.floor;
    const r = this.ranges;
    // Fast path: append at the top (the common case for packet numbers and in-order bytes).
    const last = r[r.length - 1];
    if (last === undefined || start > last.end + 1) {
      r.push({ start, end });
      this.trim();
      return true;
    }
    if (start >= last.start && start <= last.end + 1) {
      if (end <= last.end) return false;
      last.end = end;
      return true;
    }
    // General case: find the first range that could touch [start, end].
    const i = this.firstEndingAtOrAfter(start - 1);
    let j = i;
    let covered = 0;
    let newStart = start;
    let newEnd = end;
    while (j < r.length && r[j]!.start <= end + 1) {
      const range = r[j]!;
      covered += Math.min(range.end, end) - Math.max(range.start, start) + 1;
      newStart = Math.min(newStart, range.start);
      newEnd = Math.max(newEnd, range.end);
      j++;
    }
    const isNew = covered < end - start + 1;
    r.splice(i, j - i, { start: newStart, end: newEnd });
    this.trim();
    return isNew;
  }

  /** Smallest value not in the set at or above `from`. */
  firstGapFrom(from: number): number {
    let value = Math.max(from, this.floor);
    const r = this.ranges;
    for (let i = this.firstEndingAtOrAfter(value); i < r.length; i++) {
      const range = r[i]!;
      if (range.end < value) continue;
      if (range.start > value) return value;
      value = range.end + 1;
    }
    return value;
  }

  /** Index of the first range whose end is >= value (ranges.length if none): binary search. */
  private firstEndingAtOrAfter(value: number): number {
    const r = this.ranges;
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid]!.end < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get largest(): number {
    const last = this.ranges[this.ranges.length - 1];
    return last === undefined ? -1 : last.end;
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  private trim(): void {
    while (this.ranges.length > this.maxRanges) {
      const dropped = this.ranges.shift()!;
      this.floor = dropped.end + 1;
    }
  }
}
