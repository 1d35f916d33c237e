/**
 * A binary min-heap of scheduled events ordered by (time, seq). The sequence number breaks ties in
 * insertion order, which is what makes a run deterministic: two events due at the same virtual
 * millisecond always fire in the order they were scheduled.
 */
export interface SimEvent {
  /** Doubles as the runtime TimerHandle id. */
  readonly id: number;
  readonly time: number;
  readonly seq: number;
  fn: (arg: unknown) => void;
  arg: unknown;
  cancelled: boolean;
}

export class EventHeap {
  private items: SimEvent[] = [];

  get size(): number {
    return this.items.length;
  }

  push(event: SimEvent): void {
    const items = this.items;
    items.push(event);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (before(p, event)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = event;
  }

  peek(): SimEvent | undefined {
    return this.items[0];
  }

  pop(): SimEvent | undefined {
    const items = this.items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop()!;
    if (items.length > 0) this.siftDown(0, last);
    return top;
  }

  /** Drops cancelled events in one pass (lazy deletion leaves them behind) and restores heap order. */
  compact(): void {
    this.items = this.items.filter((e) => !e.cancelled);
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.siftDown(i, this.items[i]!);
  }

  private siftDown(start: number, event: SimEvent): void {
    const items = this.items;
    const n = items.length;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && before(items[right]!, items[child]!)) child = right;
      const c = items[child]!;
      if (before(event, c)) break;
      items[i] = c;
      i = child;
    }
    items[i] = event;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
