/**
 * An indexed binary min-heap of deadlines: each item is in it at most once, knows its own position,
 * and can be moved or removed in O(log n). The endpoint keeps one entry per session (its next
 * deadline), so a timeout costs O(due sessions x log n) instead of a walk over every session.
 */
export interface Scheduled {
  /** When the item is due; meaningful only while it is in a heap. */
  deadline: number;
  /** Position in the heap, -1 when absent. Owned by the heap. */
  heapIndex: number;
}

export class DeadlineHeap<T extends Scheduled> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The earliest item, or undefined. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Inserts `item` due at `deadline`, or moves it there if it is already in the heap. */
  set(item: T, deadline: number): void {
    if (item.heapIndex < 0) {
      item.deadline = deadline;
      item.heapIndex = this.items.length;
      this.items.push(item);
      this.up(item.heapIndex);
      return;
    }
    const earlier = deadline < item.deadline;
    item.deadline = deadline;
    if (earlier) this.up(item.heapIndex);
    else this.down(item.heapIndex);
  }

  /** Removes and returns the earliest item. */
  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  remove(item: T): void {
    const index = item.heapIndex;
    if (index < 0) return;
    const items = this.items;
    const last = items.pop()!;
    item.heapIndex = -1;
    if (last === item) return;
    items[index] = last;
    last.heapIndex = index;
    this.up(index);
    this.down(last.heapIndex);
  }

  private up(index: number): void {
    const items = this.items;
    const item = items[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex]!;
      if (parent.deadline <= item.deadline) break;
      items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    items[index] = item;
    item.heapIndex = index;
  }

  private down(index: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && items[right]!.deadline < items[left]!.deadline) child = right;
      const smallest = items[child]!;
      if (smallest.deadline >= item.deadline) break;
      items[index] = smallest;
      smallest.heapIndex = index;
      index = child;
    }
    items[index] = item;
    item.heapIndex = index;
  }
}
