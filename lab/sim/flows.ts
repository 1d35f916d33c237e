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
    this.reallocate();
    return flow;
  }

  cancel(flow: Flow): void {
    if (flow.done || !this.active.has(flow)) return;
    this.advance();
    flow.done = true;
    this.active.delete(flow);
    this.reallocate();
  }

  /** Moves every flow forward to `now` at its current rate. */
  private advance(): void {
    const now = this.scheduler.now;
    const elapsed = now - this.lastUpdate;
    if (elapsed > 0) for (const f of this.active) f.remaining -= f.rate * elapsed;
    this.lastUpdate = now;
  }

  private reallocate(): void {
    const flows = [...this.active];
    const capacity = new Map<LinkDirection, number>();
    const users = new Map<LinkDirection, number>();
    for (const f of flows) {
      f.rate = 0;
      for (const l of f.links) {
        capacity.set(l, l.bandwidthBps / 8000);
        users.set(l, (users.get(l) ?? 0) + 1);
      }
    }
    let unfrozen = flows;
    while (unfrozen.length > 0) {
      let increment = Infinity;
      for (const [l, n] of users) if (n > 0) increment = Math.min(increment, capacity.get(l)! / n);
      for (const f of unfrozen) increment = Math.min(increment, f.cap - f.rate);
      if (!Number.isFinite(increment)) break;
      const still: Flow[] = [];
      for (const f of unfrozen) {
        f.rate += increment;
        for (const l of f.links) capacity.set(l, capacity.get(l)! - increment);
      }
      for (const f of unfrozen) {
        const saturated = f.rate >= f.cap - 1e-12 || f.links.some((l) => capacity.get(l)! <= 1e-9);
        if (saturated) {
          for (const l of f.links) users.set(l, users.get(l)! - 1);
        } else still.push(f);
      }
      if (still.length === unfrozen.length) break;
      unfrozen = still;
    }
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
