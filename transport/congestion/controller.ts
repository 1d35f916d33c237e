/**
 * Congestion control behind one interface (quic-go `internal/congestion` style). The connection tells
 * the controller what was sent, acknowledged and lost; the controller answers with a congestion window
 * (bytes in flight allowed) and a pacing rate (bytes per second).
 */
export const MAX_SEGMENT = 1200;

/** A delivery-rate sample (draft-cheng-iccrg-delivery-rate-estimation), taken once per ACK. */
export interface RateSample {
  /** Bytes per second delivered over the sampled interval. */
  deliveryRate: number;
  /** Total bytes delivered when the newest acknowledged packet was sent (round counting). */
  priorDelivered: number;
  /** Total bytes delivered now. */
  delivered: number;
  /** The sample was taken while the sender had nothing to send; it under-estimates the path. */
  isAppLimited: boolean;
  rttMs: number;
}

export interface CongestionController {
  readonly name: 'bbr' | 'newreno' | 'adaptive';
  /** Bytes allowed in flight. */
  cwnd(): number;
  /** Bytes per second to pace at. */
  pacingRate(): number;
  /** Current estimate of the path's bottleneck rate (bytes/s); recorded for smart start. */
  bandwidthEstimate(): number;
  /**
   * Still probing for the path's rate (BBR's STARTUP): the estimate is a lower bound that grows each
   * round, so smart start does not record it while the session runs (only at its close).
   */
  probing?(): boolean;
  onPacketSent(now: number, bytes: number, bytesInFlight: number): void;
  onAck(now: number, ackedBytes: number, largestAckedSentTime: number, sample: RateSample | undefined): void;
  onLoss(now: number, lostBytes: number, largestLostSentTime: number): void;
  /** Persistent congestion (RFC 9002 §7.6): everything sent over a long interval was lost. */
  onPersistentCongestion(now: number): void;
  /**
   * Smart start for a window-based controller, called once when the session's first RTT sample is in
   * (the handshake's): `rate` is this session's share of the rate remembered for its network context,
   * bytes/s. Rate-based BBR takes its seed at construction instead and has no `resume`.
   */
  resume?(rate: number, rttMs: number): void;
}

export interface ControllerContext {
  /** Smoothed RTT in ms (for controllers that pace from cwnd / RTT). */
  smoothedRtt(): number;
  minRtt(): number;
  /** The newest RTT sample in ms (the smoothed RTT lags a queue that fills within a round trip). */
  latestRtt(): number;
}
