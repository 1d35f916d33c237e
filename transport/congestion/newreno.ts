import { type CongestionController, type ControllerContext, MAX_SEGMENT } from './controller.ts';

/**
 * NewReno (RFC 9002 §7): slow start, halving once per loss episode, additive increase. The reference
 * the rate-based controller is measured against: it reads every random loss as congestion.
 */
export function createNewReno(
  ctx: ControllerContext,
  initialWindow = 10 * MAX_SEGMENT,
): CongestionController {
  let window = initialWindow;
  let ssthresh = Number.POSITIVE_INFINITY;
  let recoveryStart = Number.NEGATIVE_INFINITY;
  const minimum = 2 * MAX_SEGMENT;
  return {
    name: 'newreno',
    cwnd: () => window,
    // Pace at 1.25 x cwnd per RTT so one window does not leave as a single burst.
    pacingRate: () => (1.25 * window * 1000) / Math.max(1, ctx.smoothedRtt()),
    bandwidthEstimate: () => (window * 1000) / Math.max(1, ctx.smoothedRtt()),
    onPacketSent() {},
    onAck(_now, ackedBytes, largestAckedSentTime) {
      if (largestAckedSentTime <= recoveryStart) return;
      if (window < ssthresh) window += ackedBytes;
      else window += (MAX_SEGMENT * ackedBytes) / window;
    },
    onLoss(now, _lostBytes, largestLostSentTime) {
      if (largestLostSentTime <= recoveryStart) return;
      recoveryStart = now;
      window = Math.max(minimum, window / 2);
      ssthresh = window;
    },
    onPersistentCongestion() {
      window = minimum;
    },
  };
}
