/**
 * Token-bucket pacer: credit accrues at the controller's pacing rate up to a small burst, and a packet
 * leaves only when the bucket holds its size. The burst lets a driver whose timers fire with ~1 ms
 * granularity keep up with high rates without sending a whole window at once.
 */
export class Pacer {
  private credit: number;
  private last = 0;

  constructor(
    private readonly maxBurstBytes: number,
    private readonly burstMs = 2,
  ) {
    this.credit = maxBurstBytes;
  }

  private capacity(rate: number): number {
    return Math.max(2 * 1200, Math.min(this.maxBurstBytes, (rate * this.burstMs) / 1000));
  }

  private refill(now: number, rate: number): void {
    if (now > this.last) {
      this.credit = Math.min(this.capacity(rate), this.credit + ((now - this.last) * rate) / 1000);
      this.last = now;
    }
  }

  /** Milliseconds until `bytes` may be sent (0 = now). */
  delay(now: number, rate: number, bytes: number): number {
    this.refill(now, rate);
    if (this.credit >= bytes) return 0;
    return ((bytes - this.credit) * 1000) / rate;
  }

  onSent(now: number, rate: number, bytes: number): void {
    this.refill(now, rate);
    this.credit -= bytes;
  }
}
