import {
  type CongestionController,
  type ControllerContext,
  MAX_SEGMENT,
  type RateSample,
} from './controller.ts';

/**
 * A BBR-like rate-based controller (after BBR v1, Cardwell et al. 2016). It models the path as a
 * bottleneck rate (windowed max of delivery-rate samples over 10 rounds) times the min RTT, paces at
 * gain x rate and caps in-flight data at 2 x BDP. Loss does not change the model, so random
 * wireless loss is recovered by retransmission without slowing down.
 *
 * Modes: STARTUP (gain 2.885 until the rate stops growing by 25 % for 3 rounds) -> DRAIN (gain 1/2.885
 * until in-flight <= BDP) -> PROBE_BW (gain cycle 1.25, 0.75, 1 x 6, one phase per min RTT).
 *
 * Smart start: with `initialRate` (from the history store) the controller skips STARTUP and paces at
 * that rate from the first packet. The seed counts as a bandwidth sample only for the first
 * SEED_ROUNDS rounds, so a seed that is too high is replaced by measurements within a few RTTs; if the
 * first probe finds the seed too low (delivery keeps up with a 1.25 probe), STARTUP resumes from there.
 */
const STARTUP_GAIN = 2.885;
const PROBE_GAINS = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
const BW_WINDOW_ROUNDS = 10;
const SEED_ROUNDS = 3;
const MIN_CWND = 4 * MAX_SEGMENT;
/**
 * Floor for the RTT used in the BDP: a driver on real timers sends in bursts about a millisecond or
 * two apart, so a sub-millisecond path (loopback, LAN) still needs a few ms worth of window.
 */
const MIN_BDP_RTT_MS = 4;
/**
 * How far above min RTT the smoothed RTT may lift the RTT used in the BDP. Real hosts add scheduling
 * delay (a descheduled receiver, a busy event loop) to every round trip whatever the path: on a
 * loaded 2-core machine loopback min RTT is ~1 ms but the loaded RTT is 20-50 ms, and a window of
 * bw x min RTT then caps throughput at a fraction of the bottleneck. Bounded, so a queue we build
 * ourselves cannot grow the window without limit (pacing at the measured rate bounds it anyway).
 */
const HOST_DELAY_ALLOWANCE_MS = 30;

export interface BbrOptions {
  /** Smart-start rate in bytes/s (already bounded by the caller). */
  initialRate?: number;
  initialWindow?: number;
}

type Mode = 'startup' | 'drain' | 'probe_bw';

export function createBbr(ctx: ControllerContext, options: BbrOptions = {}): CongestionController {
  const initialWindow = options.initialWindow ?? 10 * MAX_SEGMENT;
  let mode: Mode = 'startup';
  let pacingGain = STARTUP_GAIN;
  let cwndGain = STARTUP_GAIN;
  const samples: Array<{ round: number; rate: number }> = [];
  let round = 0;
  let nextRoundDelivered = 0;
  let fullBw = 0;
  let fullBwCount = 0;
  let filledPipe = false;
  let cycleIndex = 0;
  let cycleStart = 0;
  let inflight = 0;
  let seed = options.initialRate;
  let seedProbeChecked = seed === undefined;

  if (seed !== undefined) {
    filledPipe = true;
    mode = 'probe_bw';
    cycleIndex = 0;
    pacingGain = PROBE_GAINS[0]!;
    cwndGain = 2;
  }

  // The filter's maximum, recomputed only when the samples change (cwnd and pacing rate are read
  // for every packet sent).
  let maxBw = 0;
  const refreshMax = (): void => {
    let best = 0;
    for (const s of samples) if (s.rate > best) best = s.rate;
    maxBw = best;
  };
  const maxFilter = (): number => maxBw;

  const bandwidth = (): number => {
    const measured = maxFilter();
    if (seed !== undefined) return Math.max(measured, seed);
    return measured;
  };

  /** The RTT the model works with: min RTT plus bounded host delay (see HOST_DELAY_ALLOWANCE_MS). */
  const modelRtt = (): number => {
    const minRtt = ctx.minRtt();
    const rtt = Math.min(ctx.smoothedRtt(), minRtt + HOST_DELAY_ALLOWANCE_MS);
    return Math.max(minRtt, rtt, MIN_BDP_RTT_MS);
  };

  const bdp = (): number => {
    const bw = bandwidth();
    if (bw === 0) return initialWindow;
    return (bw * modelRtt()) / 1000;
  };

  const enterProbeBw = (now: number): void => {
    mode = 'probe_bw';
    pacingGain = 1;
    cwndGain = 2;
    cycleIndex = 2;
    cycleStart = now;
  };

  const onRoundStart = (now: number, sample: RateSample): void => {
    round++;
    while (samples.length > 0 && samples[0]!.round <= round - BW_WINDOW_ROUNDS) samples.shift();
    refreshMax();
    if (seed !== undefined && round >= SEED_ROUNDS) {
      if (!seedProbeChecked) seedProbeChecked = true;
      seed = undefined;
    }
    if (!seedProbeChecked && round >= 2 && seed !== undefined) {
      // The first probe at 1.25 x seed was fully delivered: the seed is low, so probe up quickly.
      seedProbeChecked = true;
      if (maxFilter() >= seed * 1.15) {
        seed = undefined;
        filledPipe = false;
        fullBw = maxFilter();
        fullBwCount = 0;
        mode = 'startup';
        pacingGain = STARTUP_GAIN;
        cwndGain = STARTUP_GAIN;
      }
    }
    if (!filledPipe && !sample.isAppLimited) {
      const bw = maxFilter();
      if (bw >= fullBw * 1.25) {
        fullBw = bw;
        fullBwCount = 0;
      } else if (++fullBwCount >= 3) {
        filledPipe = true;
        mode = 'drain';
        pacingGain = 1 / STARTUP_GAIN;
        cwndGain = STARTUP_GAIN;
      }
    }
    if (mode === 'drain' && inflight <= bdp()) enterProbeBw(now);
  };

  return {
    name: 'bbr',
    cwnd() {
      const bw = bandwidth();
      if (bw === 0) return Math.max(initialWindow, MIN_CWND);
      // Based on min RTT, never smoothed RTT: a window that grows with the RTT would grow with the
      // queue it creates (a slow receiver's socket buffer), without bound.
      const target = cwndGain * bdp() + 3 * MAX_SEGMENT;
      // Until the pipe is known to be full, never drop below the initial window.
      return Math.max(filledPipe ? MIN_CWND : initialWindow, target);
    },
    pacingRate() {
      const bw = bandwidth();
      if (bw === 0) return (pacingGain * initialWindow * 1000) / Math.max(1, ctx.smoothedRtt());
      return pacingGain * bw;
    },
    bandwidthEstimate: () => maxFilter(),
    probing: () => !filledPipe,
    onPacketSent(_now, _bytes, bytesInFlight) {
      inflight = bytesInFlight;
    },
    onAck(now, _ackedBytes, _largestAckedSentTime, sample) {
      if (sample === undefined) return;
      if (!sample.isAppLimited || sample.deliveryRate > maxFilter()) {
        // One entry per round (its max) keeps the filter O(window) however many ACKs arrive.
        const last = samples[samples.length - 1];
        if (last !== undefined && last.round === round) last.rate = Math.max(last.rate, sample.deliveryRate);
        else samples.push({ round, rate: sample.deliveryRate });
        if (sample.deliveryRate > maxBw) maxBw = sample.deliveryRate;
      }
      if (sample.priorDelivered >= nextRoundDelivered) {
        nextRoundDelivered = sample.delivered;
        onRoundStart(now, sample);
      }
      // A gain phase lasts one model RTT: on a ~1 ms loopback path whose delivery samples span the
      // loaded RTT, a min-RTT-long probe would be averaged away and the rate could never grow.
      if (mode === 'probe_bw' && now - cycleStart > modelRtt()) {
        cycleIndex = (cycleIndex + 1) % PROBE_GAINS.length;
        cycleStart = now;
        pacingGain = PROBE_GAINS[cycleIndex]!;
      }
    },
    onLoss() {
      // Rate-based: loss alone is not read as congestion.
    },
    onPersistentCongestion() {
      // Every packet over several PTOs was lost: the model is stale, start measuring again.
      samples.length = 0;
      maxBw = 0;
      seed = undefined;
      filledPipe = false;
      fullBw = 0;
      fullBwCount = 0;
      mode = 'startup';
      pacingGain = STARTUP_GAIN;
      cwndGain = STARTUP_GAIN;
    },
  };
}
