import type { Clock } from '../../runtime/index.ts';
import type { SourceProgress } from '../types.ts';

/**
 * Watches bytes arriving from one source and tells the engine when they last came and how far apart
 * they usually are while requests are outstanding. Gaps spanning an idle period (nothing requested)
 * are not counted: an idle source is not a slow one.
 */
export class ProgressMeter {
  private lastAt: number | undefined;
  private intervalMs: number | undefined;
  private outstanding = 0;
  private busySince = 0;

  constructor(private readonly clock: Clock) {}

  requestStarted(): void {
    if (this.outstanding++ === 0) this.busySince = this.clock.now();
  }

  requestEnded(): void {
    this.outstanding = Math.max(0, this.outstanding - 1);
  }

  bytesArrived(): void {
    const now = this.clock.now();
    if (this.outstanding > 0) {
      // The first arrival of a busy period is measured from its start: that wait is a real gap too.
      const gap = now - Math.max(this.lastAt ?? this.busySince, this.busySince);
      this.intervalMs = this.intervalMs === undefined ? gap : 0.875 * this.intervalMs + 0.125 * gap;
    }
    this.lastAt = now;
  }

  progress(): SourceProgress | undefined {
    if (this.lastAt === undefined || this.intervalMs === undefined) return undefined;
    return { lastAt: this.lastAt, intervalMs: this.intervalMs };
  }
}
