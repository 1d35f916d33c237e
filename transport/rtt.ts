/**
 * RTT estimation per RFC 9002 §5: smoothed RTT and variation from samples adjusted by the peer's
 * reported ack delay, plus min RTT over the connection's life.
 */
export const INITIAL_RTT_MS = 333;
export const GRANULARITY_MS = 1;

export class RttStats {
  latest = 0;
  smoothed = INITIAL_RTT_MS;
  variation = INITIAL_RTT_MS / 2;
  min = Number.POSITIVE_INFINITY;
  hasSample = false;

  constructor(readonly maxAckDelayMs: number) {}

  update(sampleMs: number, ackDelayMs: number): void {
    // A millisecond clock cannot see below its granularity; a 0 ms sample would zero the BDP.
    if (sampleMs < GRANULARITY_MS) sampleMs = GRANULARITY_MS;
    this.latest = sampleMs;
    if (sampleMs < this.min) this.min = sampleMs;
    let adjusted = sampleMs;
    const delay = Math.min(ackDelayMs, this.maxAckDelayMs);
    if (adjusted - delay >= this.min) adjusted -= delay;
    if (!this.hasSample) {
      this.hasSample = true;
      this.smoothed = adjusted;
      this.variation = adjusted / 2;
      return;
    }
    this.variation = 0.75 * this.variation + 0.25 * Math.abs(this.smoothed - adjusted);
    this.smoothed = 0.875 * this.smoothed + 0.125 * adjusted;
  }

  /** Probe timeout before backoff: srtt + max(4 rttvar, granularity) + max_ack_delay. */
  pto(): number {
    return this.smoothed + Math.max(4 * this.variation, GRANULARITY_MS) + this.maxAckDelayMs;
  }

  /** Time threshold for declaring loss: 9/8 of the larger of smoothed and latest RTT. */
  lossDelay(): number {
    return Math.max(GRANULARITY_MS, (9 / 8) * Math.max(this.smoothed, this.latest));
  }

  minRtt(): number {
    return Number.isFinite(this.min) ? this.min : this.smoothed;
  }
}
