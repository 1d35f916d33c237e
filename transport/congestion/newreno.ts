import { type CongestionController, type ControllerContext, MAX_SEGMENT } from './controller.ts';
import { createRateFilter } from './rate-filter.ts';

export interface NewRenoOptions {
  initialWindow?: number;
  /**
   * Read a loss that arrives with no queue behind it as random link loss and keep the window (the
   * `adaptive` controller). Only a loss while the path's RTT shows a standing queue halves the window.
   */
  tolerateRandomLoss?: boolean;
}

/**
 * Queueing delay (the larger of the smoothed and the latest RTT, above the path's minimum) below
 * which a loss cannot be the queue overflowing: a drop-tail queue only drops when it is full, and a
 * full queue shows in the RTT. The
 * floor of 10 ms covers RTT noise (ack scheduling, pacing); a quarter of the minimum RTT scales it to
 * long paths. TCP Veno (Fu & Liew, IEEE JSAC 2003) draws the same line with a backlog of 3 packets;
 * delay is used here because several sessions share one home uplink, and each one's backlog is only its
 * share of the queue while the delay is the whole queue's.
 */
function congestionThresholdMs(minRttMs: number): number {
  return Math.max(10, 0.25 * minRttMs);
}

/**
 * Smart start jumps to half the remembered rate's bandwidth-delay product: Careful Resume's
 * jump_cwnd = saved_cwnd / 2 (draft-ietf-tsvwg-careful-resume). With the right rate the first flight
 * fills half the pipe and slow start doubles from there, one round trip from the full rate; with a
 * rate up to 2x too high the flight is one BDP, no more than the overshoot of slow start's own last
 * round, and the queue it builds makes the next loss count as congestion.
 */
const RESUME_FRACTION = 0.5;
/** A handshake slower than this was stalled or retransmitted: its RTT says nothing about the path. */
const MAX_RESUME_RTT_MS = 1000;

/**
 * NewReno (RFC 9002 §7): slow start, halving once per loss episode, additive increase. Plain, it is the
 * reference the rate-based controller is measured against: it reads every random loss as congestion.
 * With `tolerateRandomLoss` it is the `adaptive` controller: as polite as NewReno where losses come from
 * a shared queue filling up (home uplinks carrying several peer uploads), and not crippled by a lossy
 * radio link, where NewReno's rate falls as 1/sqrt(loss) (2 % loss at 150 ms: well under 1 Mbit/s).
 */
export function createNewReno(ctx: ControllerContext, options: NewRenoOptions = {}): CongestionController {
  let window = options.initialWindow ?? 10 * MAX_SEGMENT;
  let ssthresh = Number.POSITIVE_INFINITY;
  let recoveryStart = Number.NEGATIVE_INFINITY;
  const minimum = 2 * MAX_SEGMENT;
  const tolerant = options.tolerateRandomLoss === true;
  // What the path delivered, not what the window allows: a window that grew on app-limited request /
  // response traffic says nothing about the path, and this is what smart start remembers.
  const delivered = createRateFilter();
  const controller: CongestionController = {
    name: tolerant ? 'adaptive' : 'newreno',
    cwnd: () => window,
    // Pace at 1.25 x cwnd per RTT so one window does not leave as a single burst.
    pacingRate: () => (1.25 * window * 1000) / Math.max(1, ctx.smoothedRtt()),
    bandwidthEstimate: () => delivered.max(),
    onPacketSent() {},
    onAck(_now, ackedBytes, largestAckedSentTime, sample) {
      if (sample !== undefined) delivered.add(sample);
      if (largestAckedSentTime <= recoveryStart) return;
      if (window < ssthresh) window += ackedBytes;
      else window += (MAX_SEGMENT * ackedBytes) / window;
    },
    onLoss(now, _lostBytes, largestLostSentTime) {
      if (largestLostSentTime <= recoveryStart) return;
      if (tolerant) {
        const minRtt = ctx.minRtt();
        // The latest sample too: a slow-start overshoot fills the queue within a round trip, before
        // the smoothed RTT has caught up.
        const rtt = Math.max(ctx.smoothedRtt(), ctx.latestRtt());
        if (rtt - minRtt < congestionThresholdMs(minRtt)) return;
      }
      recoveryStart = now;
      window = Math.max(minimum, window / 2);
      ssthresh = window;
    },
    onPersistentCongestion() {
      window = minimum;
    },
  };
  // The plain NewReno stays the textbook reference: only `adaptive` resumes from history.
  if (tolerant) {
    controller.resume = (rate, rttMs) => {
      if (!(rate > 0) || !(rttMs > 0) || rttMs > MAX_RESUME_RTT_MS) return;
      const jump = (RESUME_FRACTION * rate * rttMs) / 1000;
      if (jump > window) window = jump;
    };
  }
  return controller;
}
