import type { Clock, TimerHandle } from '../../runtime/index.ts';
import { EventHeap, type SimEvent } from './heap.ts';

/** 2026-01-01T00:00:00Z: virtual time starts at a plausible wall-clock date so expiry checks make sense. */
export const DEFAULT_START_TIME = 1_767_225_600_000;

export interface RunOptions {
  /** Stop as soon as this returns true (checked after every virtual instant settles). */
  until?: () => boolean;
  /**
   * Stop after this many virtual milliseconds from the start of this run. Time always reaches the
   * deadline, even if nothing is scheduled (use `until` to stop early when work is done).
   */
  deadlineMs?: number;
  /** Stop at this absolute virtual time (ms, same scale as clock.now()). */
  untilTime?: number;
  /** Safety valve: stop after this many events. */
  maxEvents?: number;
}

export type RunStopReason = 'condition' | 'deadline' | 'quiescent' | 'max-events';

export interface RunResult {
  reason: RunStopReason;
  /** Virtual time when the run stopped. */
  now: number;
  /** Events fired during this run. */
  events: number;
}

/**
 * Virtual time. Timers live in a heap; `run` fires everything due at the next instant, lets the
 * promise/microtask work it started settle (a setImmediate turn drains the microtask and nextTick
 * queues completely), then jumps to the next instant. The wall clock decides only when the loop yields
 * to the event loop between instants (to stay responsive), which no simulated result depends on.
 */
export class Scheduler {
  now: number;
  readonly clock: Clock;
  private readonly heap = new EventHeap();
  private seq = 0;
  private cancelled = 0;
  private running = false;
  private readonly held = new Set<Promise<unknown>>();
  /** Synchronous queue drain, or undefined to pay an event-loop turn per instant instead. */
  private readonly drain: (() => void) | undefined;
  /** Sequence number when the current batch of held work began. */
  private holdSeq = 0;
  /** Total events fired since creation. */
  eventsFired = 0;

  constructor(
    startTime = DEFAULT_START_TIME,
    private readonly holdGuardTurns = 100_000,
    drain: 'sync' | 'turn' = 'sync',
  ) {
    this.drain = drain === 'sync' ? drainTicks : undefined;
    this.now = startTime;
    const scheduler = this;
    this.clock = {
      now: () => scheduler.now,
      setTimer(delayMs, callback): TimerHandle {
        return scheduler.schedule(
          delayMs,
          (cb: () => void) => {
            scheduler.userCodeRan = true;
            cb();
          },
          callback,
        );
      },
      clearTimer(handle) {
        scheduler.cancel(handle as SimEvent);
      },
    };
  }

  /**
   * Set by anything that calls component code (timers, datagram handlers, HTTP completions): only then
   * can promise work be pending, so only then does the loop pay for a setImmediate turn.
   */
  userCodeRan = false;

  /** Schedules `fn(arg)` after `delayMs` virtual ms. */
  schedule<T>(delayMs: number, fn: (arg: T) => void, arg: T): SimEvent {
    // Like Node: NaN and negatives mean 0; absurd delays are capped instead of poisoning the clock.
    const delay = Number.isNaN(delayMs) ? 0 : Math.min(Math.max(delayMs, 0), 2_147_483_647);
    return this.at(this.now + delay, fn, arg);
  }

  at<T>(time: number, fn: (arg: T) => void, arg: T): SimEvent {
    const seq = ++this.seq;
    const event: SimEvent = {
      id: seq,
      time: Math.max(time, this.now),
      seq,
      fn: fn as (arg: unknown) => void,
      arg,
      cancelled: false,
    };
    this.heap.push(event);
    return event;
  }

  cancel(event: SimEvent | undefined): void {
    if (!event || event.cancelled) return;
    event.cancelled = true;
    this.cancelled++;
    // Lazy deletion: rebuild once garbage dominates, so cleared idle timers cannot bloat the heap.
    if (this.cancelled > 1024 && this.cancelled * 2 > this.heap.size) {
      this.heap.compact();
      this.cancelled = 0;
    }
  }

  /** Pending (not cancelled) events, approximately: cancelled ones are counted until compaction. */
  get pending(): number {
    return this.heap.size - this.cancelled;
  }

  /**
   * Keeps virtual time still until `promise` settles: used for work that takes no virtual time but
   * real turns of the event loop (a fastify `inject`, file I/O in a store). Held work is released
   * (time moves on without it) when it evidently waits on virtual time itself: it scheduled virtual
   * events, and no file-system request is in flight, for 50 event-loop turns. A cap on event-loop
   * turns (`holdGuardTurns`) releases anything else that hangs. Turns, not wall-clock time: a guard that
   * reads the clock fires earlier on a loaded machine and changes what the simulation computes.
   */
  hold<T>(promise: Promise<T>): Promise<T> {
    const tracked = promise.then(
      () => undefined,
      () => undefined,
    );
    if (this.held.size === 0) this.holdSeq = this.seq;
    this.held.add(tracked);
    void tracked.then(() => this.held.delete(tracked));
    return promise;
  }

  run(options: RunOptions = {}): Promise<RunResult> {
    if (this.running) return Promise.reject(new Error('simulation is already running'));
    this.running = true;
    return new Promise((resolve, reject) => {
      const start = this.eventsFired;
      const run: ActiveRun = {
        start,
        deadline:
          options.deadlineMs !== undefined ? this.now + options.deadlineMs : (options.untilTime ?? Infinity),
        maxEvents: options.maxEvents ?? Infinity,
        until: options.until,
        finish: (reason) => {
          this.running = false;
          resolve(this.result(reason, start));
        },
        fail: (error) => {
          this.running = false;
          reject(error);
        },
      };
      setImmediate(() => this.loop(run));
    });
  }

  /**
   * The run loop proper. It runs as a macrotask (a setImmediate callback) so that after each instant
   * it can drain the nextTick and microtask queues synchronously (Node's processTicksAndRejections,
   * ~0.1 us) instead of paying an event-loop turn (~3 us). It yields to the real event loop when held
   * work needs I/O, and every 20 ms of wall time so the process stays responsive.
   */
  private loop(run: ActiveRun): void {
    const heap = this.heap;
    const sliceEnd = Date.now() + 20;
    let instants = 0;
    try {
      this.drain?.();
      if (realWorkPending()) {
        this.waitForRealWork().then(() => setImmediate(() => this.loop(run)), run.fail);
        return;
      }
      for (;;) {
        if (this.held.size > 0) {
          this.settle().then(() => setImmediate(() => this.loop(run)), run.fail);
          return;
        }
        if (run.until?.()) {
          run.finish('condition');
          return;
        }
        let next = heap.peek();
        while (next?.cancelled) {
          heap.pop();
          this.cancelled--;
          next = heap.peek();
        }
        if (next === undefined) {
          // Nothing left to do. With a deadline, time still passes up to it (like sleeping).
          if (run.deadline !== Infinity) {
            this.now = Math.max(this.now, run.deadline);
            run.finish('deadline');
            return;
          }
          run.finish('quiescent');
          return;
        }
        if (next.time > run.deadline) {
          this.now = run.deadline;
          run.finish('deadline');
          return;
        }
        if (this.eventsFired - run.start >= run.maxEvents) {
          run.finish('max-events');
          return;
        }
        this.now = next.time;
        this.userCodeRan = false;
        // Fire everything due at this instant, including events scheduled for "now" while firing.
        while (next !== undefined && next.time <= this.now) {
          heap.pop();
          if (next.cancelled) {
            this.cancelled--;
          } else {
            next.cancelled = true; // fired: a later clearTimer on it is a no-op
            this.eventsFired++;
            next.fn(next.arg);
          }
          next = heap.peek();
        }
        if (this.userCodeRan) {
          if (this.drain === undefined) {
            // Turn mode (or no synchronous drain on this Node): a setImmediate turn drains the queues.
            setImmediate(() => this.loop(run));
            return;
          }
          this.drain();
          if (realWorkPending()) {
            // The instant started real work: file I/O (a store read) or a setImmediate (a helper
            // simulating I/O). Time stands still until it is done, as if held, so results do not
            // depend on disk or machine speed.
            this.waitForRealWork().then(() => setImmediate(() => this.loop(run)), run.fail);
            return;
          }
        }
        if ((++instants & 255) === 0 && Date.now() > sliceEnd) {
          setImmediate(() => this.loop(run));
          return;
        }
      }
    } catch (error) {
      run.fail(error);
    }
  }

  /** Runs until `promise` settles (or the deadline passes) and returns its outcome. */
  async settleOn<T>(promise: Promise<T>, options: Omit<RunOptions, 'until'> = {}): Promise<T> {
    let done = false;
    const watched = promise.finally(() => {
      done = true;
    });
    watched.catch(() => undefined);
    const result = await this.run({ ...options, until: () => done });
    if (!done) throw new Error(`promise did not settle in virtual time (${result.reason} at ${result.now})`);
    return watched;
  }

  private result(reason: RunStopReason, start: number): RunResult {
    return { reason, now: this.now, events: this.eventsFired - start };
  }

  /** Event-loop turns until no file request or immediate is pending (capped by `holdGuardTurns`). */
  private async waitForRealWork(): Promise<void> {
    let turns = 0;
    do await turn();
    while (realWorkPending() && ++turns < this.holdGuardTurns);
  }

  /** Lets promise chains started by the last instant finish, and waits for held work. */
  private async settle(): Promise<void> {
    await turn();
    let turns = 0;
    let idleTurns = 0;
    while (this.held.size > 0) {
      const pending = [...this.held];
      const io = fileRequestsInFlight();
      const settled = await Promise.race([
        Promise.all(pending).then(() => true),
        (io ? realDelay(1) : turn()).then(() => false),
      ]);
      if (settled) {
        await turn();
        idleTurns = 0;
        continue;
      }
      const waitsOnVirtualTime = this.seq !== this.holdSeq && !io;
      idleTurns = waitsOnVirtualTime ? idleTurns + 1 : 0;
      if (idleTurns >= 50 || ++turns > this.holdGuardTurns) {
        for (const p of pending) this.held.delete(p);
        idleTurns = 0;
      }
    }
  }
}

/**
 * Real work queued by component or test code that needs event-loop turns: file-system requests and
 * setImmediate callbacks. (The run loop's own immediates are never pending while it checks.)
 */
function realWorkPending(): boolean {
  for (const r of process.getActiveResourcesInfo()) if (r === 'Immediate' || isFileRequest(r)) return true;
  return false;
}

/** File-system requests (store reads) in flight in this process: held work may still be doing I/O. */
function fileRequestsInFlight(): boolean {
  for (const r of process.getActiveResourcesInfo()) if (isFileRequest(r)) return true;
  return false;
}

/** FSReq*: fs calls; CloseReq: a FileHandle closing (fs/promises readFile awaits it). */
function isFileRequest(resource: string): boolean {
  return resource.startsWith('FSReq') || resource === 'CloseReq';
}

function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface ActiveRun {
  start: number;
  deadline: number;
  maxEvents: number;
  until: (() => boolean) | undefined;
  finish: (reason: RunStopReason) => void;
  fail: (error: unknown) => void;
}

/**
 * Node's internal processTicksAndRejections: runs queued nextTick callbacks and microtasks until both
 * queues are empty. Called from a macrotask it settles every promise chain synchronously. It is not a
 * public API, so the loop falls back to event-loop turns when it is missing.
 */
const drainTicks: (() => void) | undefined = (() => {
  const candidate = (process as unknown as { _tickCallback?: () => void })._tickCallback;
  return typeof candidate === 'function' && !process.env.SIM_NO_DRAIN
    ? () => candidate.call(process)
    : undefined;
})();

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
