import type { SimEvent } from './heap.ts';
import type { LinkDirection } from './link.ts';
import type { Scheduler } from './scheduler.ts';

/** A fluid transfer across a set of links (an HTTP request or response body). */
export interface Flow {
  readonly links: readonly LinkDirection[];
  remaining: number;
  /** Bytes per ms currently allocated. */
  rate: number;
  /** Per-flow ceiling in bytes per ms (e.g. TCP's loss-limited rate); Infinity if none. */
  readonly cap: number;
  readonly onDone: () => void;
  done: boolean;
}

/**
 * Max-min fair sharing of link bandwidth among concurrent flows (progressive filling). Rates are
 * recomputed whenever a flow starts or ends; one scheduler event marks the next completion. Only
 * finite-bandwidth links constrain flows; a flow with none finishes at once (plus its cap).
 */
export class FlowScheduler {
  private readonly active = new Set<Flow>();
  private lastUpdate: number;
  private timer: SimEvent | undefined;
  /** A reallocation queued for the end of this virtual instant. */
  private pending: SimEvent | undefined;

  constructor(private readonly scheduler: Scheduler) {
    this.lastUpdate = scheduler.now;
  }

  get activeCount(): number {
    return this.active.size;
  }

  start(links: readonly LinkDirection[], bytes: number, onDone: () => void, capBytesPerMs = Infinity): Flow {
    const constrained = links.filter((l) => l.bandwidthBps !== Infinity);
    const flow: Flow = {
      links: constrained,
      remaining: bytes,
      rate: 0,
      cap: capBytesPerMs,
      onDone,
      done: false,
    };
    for (const link of links) link.counters.httpBytes += bytes;
    if (bytes <= 0 || (constrained.length === 0 && capBytesPerMs === Infinity)) {
      flow.done = true;
      this.scheduler.schedule(
        0,
        () => {
          this.scheduler.userCodeRan = true;
          onDone();
        },
        undefined,
      );
      return flow;
    }
    this.advance();
    this.active.add(flow);
    this.reallocateSoon();
    return flow;
  }

  cancel(flow: Flow): void {
    if (flow.done || !this.active.has(flow)) return;
    this.advance();
    flow.done = true;
    this.active.delete(flow);
    this.reallocateSoon();
  }

  /** Moves every flow forward to `now` at its current rate. */
  private advance(): void {
    const now = this.scheduler.now;
    const elapsed = now - this.lastUpdate;
    if (elapsed > 0) for (const f of this.active) f.remaining -= f.rate * elapsed;
    this.lastUpdate = now;
  }

  /**
   * Rates only matter once time moves, so every start and cancel of one virtual instant shares one
   * reallocation at the end of it (a flash crowd starts hundreds of requests per instant).
   */
  private reallocateSoon(): void {
    if (this.pending !== undefined) return;
    this.pending = this.scheduler.schedule(0, this.reallocateBound, undefined);
  }

  private readonly reallocateBound = (): void => {
    this.pending = undefined;
    this.advance();
    this.reallocate();
  };

  /**
   * Progressive filling: every unfrozen flow's rate rises together (the "water level") until a link
   * runs full or a flow reaches its cap; those flows freeze at that level and the rest keep rising.
   * Each round costs one pass over the links, so a reallocation is O(rounds x links + flows x hops).
   */
  private reallocate(): void {
    if (this.pending !== undefined) {
      this.scheduler.cancel(this.pending);
      this.pending = undefined;
    }
    const flows = [...this.active];
    const slot = new Map<LinkDirection, number>();
    const left: number[] = [];
    const users: number[] = [];
    const onLink: Flow[][] = [];
    const frozen = new Set<Flow>();
    for (const f of flows) {
      f.rate = 0;
      for (const l of f.links) {
        let i = slot.get(l);
        if (i === undefined) {
          i = left.length;
          slot.set(l, i);
          left.push(l.bandwidthBps / 8000);
          users.push(0);
          onLink.push([]);
        }
        users[i]!++;
        onLink[i]!.push(f);
      }
    }
    const capped = flows.filter((f) => f.cap !== Infinity).sort((a, b) => a.cap - b.cap);
    let nextCapped = 0;
    let level = 0;
    const freeze = (f: Flow): void => {
      frozen.add(f);
      f.rate = level;
      for (const l of f.links) users[slot.get(l)!]!--;
    };
    while (frozen.size < flows.length) {
      let increment = Infinity;
      for (let i = 0; i < left.length; i++) {
        const n = users[i]!;
        if (n > 0) increment = Math.min(increment, left[i]! / n);
      }
      while (nextCapped < capped.length && frozen.has(capped[nextCapped]!)) nextCapped++;
      if (nextCapped < capped.length) increment = Math.min(increment, capped[nextCapped]!.cap - level);
      if (!Number.isFinite(increment)) break;
      level += increment;
      for (let i = 0; i < left.length; i++) {
        const n = users[i]!;
        if (n > 0) left[i] = left[i]! - increment * n;
      }
      const before = frozen.size;
      for (; nextCapped < capped.length; nextCapped++) {
        const f = capped[nextCapped]!;
        if (frozen.has(f)) continue;
        if (f.cap - level > 1e-12) break;
        freeze(f);
      }
      for (let i = 0; i < left.length; i++) {
        if (users[i]! > 0 && left[i]! <= 1e-9) for (const f of onLink[i]!) if (!frozen.has(f)) freeze(f);
      }
      if (frozen.size === before) break; // float residue: nothing saturated, stop rising
    }
    for (const f of flows) if (!frozen.has(f)) f.rate = level;
    this.scheduleNext();
  }

  private scheduleNext(): void {
    this.scheduler.cancel(this.timer);
    this.timer = undefined;
    let soonest = Infinity;
    for (const f of this.active)
      if (f.rate > 0) soonest = Math.min(soonest, Math.max(0, f.remaining) / f.rate);
    if (soonest === Infinity) return;
    this.timer = this.scheduler.schedule(Math.max(soonest, 0.001), () => this.complete(), undefined);
  }

  private complete(): void {
    this.timer = undefined;
    this.advance();
    const finished: Flow[] = [];
    // Tolerance: virtual time near 1.7e12 ms resolves ~0.25 us, so anything due within a microsecond
    // is done; otherwise float residue could leave a flow a few bytes short forever.
    for (const f of this.active) if (f.remaining <= f.rate * 0.001 + 1e-9) finished.push(f);
    for (const f of finished) {
      f.done = true;
      this.active.delete(f);
    }
    this.reallocate();
    if (finished.length > 0) this.scheduler.userCodeRan = true;
    for (const f of finished) f.onDone();
  }
}
