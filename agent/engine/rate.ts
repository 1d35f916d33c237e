import type { Clock } from '../../runtime/index.ts';

/**
 * Exponentially decaying byte rate (bytes/s). Cheap enough to keep one per source and per source
 * class; the time constant smooths bursty piece-sized arrivals into a usable rate.
 */
export class RateEstimator {
  private rate = 0;
  private last: number;

  constructor(
    private readonly clock: Clock,
    private readonly timeConstantMs = 5000,
  ) {
    this.last = clock.now();
  }

  add(bytes: number): void {
    this.decay();
    this.rate += (bytes * 1000) / this.timeConstantMs;
  }

  /** Current estimate in bytes per second. */
  bps(): number {
    this.decay();
    return this.rate;
  }

  private decay(): void {
    const now = this.clock.now();
    const dt = now - this.last;
    if (dt > 0) {
      this.rate *= Math.exp(-dt / this.timeConstantMs);
      this.last = now;
    }
  }
}
