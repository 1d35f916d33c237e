import type { CongestionController, RateSample } from './congestion/index.ts';
import type { AckRange } from './frames.ts';
import type { RttStats } from './rtt.ts';

/**
 * Sent-packet handler (RFC 9002; quic-go `ackhandler`): remembers what each packet carried, processes
 * ACK frames, declares loss by packet threshold (3) and time threshold (9/8 RTT), arms the probe
 * timeout with exponential backoff, and produces delivery-rate samples for the congestion controller.
 */
export const PACKET_THRESHOLD = 3;

/** What a packet carried that matters if it is lost or acknowledged. */
export type SentFrame =
  | { type: 'stream'; id: number; offset: number; length: number; fin: boolean }
  | OutgoingBlock
  | { type: 'max-data' }
  | { type: 'max-stream-data'; id: number }
  | { type: 'reset-stream'; id: number; code: number }
  | { type: 'init-reply' }
  | { type: 'ping' }
  | { type: 'repair' }
  | { type: 'ack'; largest: number };

/** A block as sent: it is also the BLOCK frame written and the record kept with the packet. */
export interface OutgoingBlock {
  type: 'block';
  seq: number;
  object: number;
  offset: number;
  data: Uint8Array;
  acked: boolean;
  /** Queued for (re)transmission right now. */
  queued: boolean;
}

export interface SentPacket {
  pn: number;
  timeSent: number;
  size: number;
  ackEliciting: boolean;
  frames: SentFrame[];
  delivered: number;
  deliveredTime: number;
  firstSentTime: number;
  appLimited: boolean;
  /** Its data was already sent a second time by tail redundancy. */
  duplicated?: boolean;
  /** Acknowledged, declared lost or abandoned: no longer in flight (it may linger in the sent log). */
  removed?: boolean;
}

export interface RecoveryEvents {
  onAcked(frames: SentFrame[]): void;
  onLost(frames: SentFrame[]): void;
}

export class SentPacketHandler {
  /**
   * Packets in flight, ascending by packet number, from index {@link logStart}. Removed packets stay
   * (flagged) until the log is compacted, so ACK ranges are found by binary search instead of by a
   * lookup per packet number, and the newest packets can be walked backwards: both keep per-packet
   * work independent of the window size.
   */
  private log: SentPacket[] = [];
  private logStart = 0;
  private inFlightCount = 0;
  /** Packets declared lost, kept briefly so a late ACK is recognised as spurious loss (reordering). */
  private readonly declaredLost = new Map<number, { size: number; gap: number; lostAt: number }>();
  /** Packet reordering threshold; starts at 3 and grows when losses prove spurious (RACK-like). */
  packetThreshold = PACKET_THRESHOLD;
  /** Time threshold as a multiple of RTT; starts at 9/8 and grows on spurious loss. */
  timeThreshold = 9 / 8;
  spuriousLosses = 0;
  bytesInFlight = 0;
  largestAcked = -1;
  ptoCount = 0;
  packetsLost = 0;
  bytesAcked = 0;
  private lossTime: number | undefined;
  private lastAckElicitingTime: number | undefined;
  private ackElicitingInFlight = 0;
  // Delivery-rate estimation state.
  private delivered = 0;
  private deliveredTime = 0;
  private firstSentTime = 0;
  private appLimitedUntil = 0;

  constructor(
    private readonly rtt: RttStats,
    private readonly cc: CongestionController,
    private readonly events: RecoveryEvents,
  ) {}

  get hasInFlight(): boolean {
    return this.ackElicitingInFlight > 0;
  }

  /** The sender ran out of data with window to spare: samples until now under-estimate the path. */
  markAppLimited(): void {
    this.appLimitedUntil = this.delivered + this.bytesInFlight || 1;
  }

  onSent(now: number, pn: number, size: number, ackEliciting: boolean, frames: SentFrame[]): void {
    if (this.bytesInFlight === 0) {
      this.firstSentTime = now;
      this.deliveredTime = now;
    }
    const packet: SentPacket = {
      pn,
      timeSent: now,
      size,
      ackEliciting,
      frames,
      delivered: this.delivered,
      deliveredTime: this.deliveredTime,
      firstSentTime: this.firstSentTime,
      appLimited: this.appLimitedUntil > 0,
    };
    this.log.push(packet);
    this.inFlightCount++;
    if (ackEliciting) {
      this.bytesInFlight += size;
      this.ackElicitingInFlight++;
      this.lastAckElicitingTime = now;
    }
    this.cc.onPacketSent(now, size, this.bytesInFlight);
  }

  private remove(packet: SentPacket): void {
    if (packet.removed) return;
    packet.removed = true;
    this.inFlightCount--;
    if (packet.ackEliciting) {
      this.bytesInFlight -= packet.size;
      this.ackElicitingInFlight--;
    }
    const log = this.log;
    while (this.logStart < log.length && log[this.logStart]!.removed) this.logStart++;
    // Nothing in flight: let go of the whole log. Kept, an idle session held up to 4,096 sent
    // packets with their frames (and the data they point into) until its next burst, which at 1,000
    // devices was most of the heap the garbage collector kept marking.
    if (this.logStart === log.length) {
      log.length = 0;
      this.logStart = 0;
      return;
    }
    // Compact once removed entries (in the window or before it) outnumber live ones: amortised O(1)
    // per packet.
    const window = log.length - this.logStart;
    if (window > 2 * this.inFlightCount + 64 || this.logStart > window + 64) {
      const live: SentPacket[] = [];
      for (let i = this.logStart; i < log.length; i++) if (!log[i]!.removed) live.push(log[i]!);
      this.log = live;
      this.logStart = 0;
    }
  }

  /** Index of the first log entry with pn >= `pn` (log.length if none). */
  private lowerBound(pn: number): number {
    const log = this.log;
    let lo = this.logStart;
    let hi = log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log[mid]!.pn < pn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Processes an ACK frame. Returns true if it acknowledged anything new. */
  onAck(now: number, ranges: AckRange[], ackDelayMs: number): boolean {
    const largest = ranges[0]?.end ?? -1;
    const newly: SentPacket[] = [];
    const log = this.log;
    // Ranges come largest first: walking them backwards collects packets in ascending order, so
    // the sort below is needed only for a malformed ACK (overlapping or unordered ranges).
    let ascending = true;
    let lastPn = -1;
    for (let r = ranges.length - 1; r >= 0; r--) {
      const range = ranges[r]!;
      for (let i = this.lowerBound(range.start); i < log.length; i++) {
        const packet = log[i]!;
        if (packet.pn > range.end) break;
        if (packet.removed) continue;
        if (packet.pn <= lastPn) ascending = false;
        lastPn = packet.pn;
        newly.push(packet);
      }
    }
    this.detectSpurious(ranges);
    if (newly.length === 0) return false;
    if (!ascending) newly.sort(byPacketNumber);
    const newest = newly[newly.length - 1]!;
    if (largest > this.largestAcked) this.largestAcked = largest;
    if (newest.pn === largest && newly.some((p) => p.ackEliciting)) {
      this.rtt.update(now - newest.timeSent, ackDelayMs);
    }

    // Delivery rate: the sample is anchored on the most recently sent packet acknowledged now.
    let ackedBytes = 0;
    let anchor: SentPacket | undefined;
    for (const packet of newly) {
      this.remove(packet);
      if (!packet.ackEliciting) continue;
      ackedBytes += packet.size;
      this.delivered += packet.size;
      this.deliveredTime = now;
      if (anchor === undefined || packet.delivered >= anchor.delivered) anchor = packet;
    }
    this.bytesAcked += ackedBytes;
    let sample: RateSample | undefined;
    if (anchor !== undefined) {
      this.firstSentTime = anchor.timeSent;
      const sendElapsed = anchor.timeSent - anchor.firstSentTime;
      const ackElapsed = now - anchor.deliveredTime;
      const interval = Math.max(sendElapsed, ackElapsed);
      const deliveredDelta = this.delivered - anchor.delivered;
      if (this.appLimitedUntil > 0 && this.delivered > this.appLimitedUntil) this.appLimitedUntil = 0;
      if (interval > 0 && interval >= this.rtt.minRtt() * 0.5) {
        sample = {
          deliveryRate: (deliveredDelta * 1000) / interval,
          priorDelivered: anchor.delivered,
          delivered: this.delivered,
          isAppLimited: anchor.appLimited,
          rttMs: now - anchor.timeSent,
        };
      }
    }
    for (const packet of newly) this.events.onAcked(packet.frames);
    if (ackedBytes > 0) this.cc.onAck(now, ackedBytes, newest.timeSent, sample);
    this.ptoCount = 0;
    this.detectLoss(now);
    return true;
  }

  /** ACKs for packets already declared lost: widen the reordering window, count them as delivered. */
  private detectSpurious(ranges: AckRange[]): void {
    if (this.declaredLost.size === 0 || ranges.length === 0) return;
    const highest = ranges[0]!.end;
    const lowest = ranges[ranges.length - 1]!.start;
    for (const [pn, packet] of this.declaredLost) {
      // Declared in ascending packet-number order: nothing later can be covered.
      if (pn > highest) break;
      if (pn < lowest || !coveredBy(ranges, pn)) continue;
      this.declaredLost.delete(pn);
      this.spuriousLosses++;
      this.delivered += packet.size;
      if (packet.gap + 1 > this.packetThreshold) this.packetThreshold = Math.min(256, packet.gap + 1);
      this.timeThreshold = Math.min(2, this.timeThreshold + 1 / 8);
    }
  }

  private forgetOldLost(now: number): void {
    const horizon = now - 4 * this.rtt.smoothed - 100;
    for (const [pn, packet] of this.declaredLost) {
      if (packet.lostAt >= horizon && this.declaredLost.size <= 4096) break;
      this.declaredLost.delete(pn);
    }
  }

  private detectLoss(now: number): void {
    this.lossTime = undefined;
    this.forgetOldLost(now);
    const lossDelay = Math.max(1, this.timeThreshold * Math.max(this.rtt.smoothed, this.rtt.latest));
    const lost: SentPacket[] = [];
    const log = this.log;
    for (let i = this.logStart; i < log.length; i++) {
      const packet = log[i]!;
      if (packet.pn > this.largestAcked) break;
      if (packet.removed) continue;
      // Compare as timeSent + delay <= now: the same expression arms the timer, so float rounding
      // can never leave a timer due "now" that declares nothing lost.
      if (packet.timeSent + lossDelay <= now || this.largestAcked - packet.pn >= this.packetThreshold) {
        lost.push(packet);
      } else {
        const when = packet.timeSent + lossDelay;
        if (this.lossTime === undefined || when < this.lossTime) this.lossTime = when;
      }
    }
    if (lost.length === 0) return;
    let lostBytes = 0;
    let largestLostSentTime = 0;
    for (const packet of lost) {
      this.remove(packet);
      if (!packet.ackEliciting) continue;
      this.declaredLost.set(packet.pn, {
        size: packet.size,
        gap: this.largestAcked - packet.pn,
        lostAt: now,
      });
      this.packetsLost++;
      lostBytes += packet.size;
      largestLostSentTime = Math.max(largestLostSentTime, packet.timeSent);
    }
    for (const packet of lost) this.events.onLost(packet.frames);
    if (lostBytes > 0) this.cc.onLoss(now, lostBytes, largestLostSentTime);
  }

  /** Deadline of the loss-detection timer (loss time, else PTO), or undefined. */
  timeout(): number | undefined {
    if (this.lossTime !== undefined) return this.lossTime;
    if (this.ackElicitingInFlight === 0 || this.lastAckElicitingTime === undefined) return undefined;
    return this.lastAckElicitingTime + this.rtt.pto() * 2 ** Math.min(this.ptoCount, 10);
  }

  /**
   * Fires the loss-detection timer. Returns 'pto' when the caller must send probe packets (it
   * retransmits the frames of {@link oldestUnacked} or a PING).
   */
  onTimeout(now: number): 'pto' | undefined {
    if (this.lossTime !== undefined && now >= this.lossTime) {
      this.detectLoss(now);
      return undefined;
    }
    const deadline = this.timeout();
    if (deadline === undefined || now < deadline) return undefined;
    this.ptoCount++;
    if (this.ptoCount === 3) this.cc.onPersistentCongestion(now);
    return 'pto';
  }

  /** The oldest ack-eliciting packet still in flight (for probe retransmission). */
  oldestUnacked(): SentPacket | undefined {
    const log = this.log;
    for (let i = this.logStart; i < log.length; i++) {
      const packet = log[i]!;
      if (!packet.removed && packet.ackEliciting) return packet;
    }
    return undefined;
  }

  /**
   * Walks ack-eliciting packets still in flight with pn < `below`, newest first, calling `visit`
   * until it returns false. Cost is the number of packets visited, not the window size.
   */
  walkNewestFirst(below: number, visit: (packet: SentPacket) => boolean): void {
    const log = this.log;
    for (let i = this.lowerBound(below) - 1; i >= this.logStart; i--) {
      const packet = log[i]!;
      if (packet.removed || !packet.ackEliciting) continue;
      if (!visit(packet)) return;
    }
  }

  /**
   * Tail repair covers packets `from` .. `to` - 1: marks those in flight that carry data as covered
   * (tail duplication skips them) and returns how many there are.
   */
  protect(from: number, to: number): number {
    const log = this.log;
    let count = 0;
    for (let i = this.lowerBound(from); i < log.length; i++) {
      const packet = log[i]!;
      if (packet.pn >= to) break;
      if (packet.removed || !packet.ackEliciting) continue;
      if (!packet.frames.some((f) => f.type === 'block' || f.type === 'stream')) continue;
      packet.duplicated = true;
      count++;
    }
    return count;
  }

  /** Drops everything (path change to an unrelated network, or close). Frames are reported lost. */
  abandonAll(): void {
    const all = this.log.slice(this.logStart).filter((p) => !p.removed);
    for (const packet of all) this.remove(packet);
    for (const packet of all) this.events.onLost(packet.frames);
    this.lossTime = undefined;
  }
}

/** ACK ranges are descending and disjoint: binary search for the one that could hold `pn`. */
function coveredBy(ranges: AckRange[], pn: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const range = ranges[mid]!;
    if (pn > range.end) hi = mid - 1;
    else if (pn < range.start) lo = mid + 1;
    else return true;
  }
  return false;
}

function byPacketNumber(a: SentPacket, b: SentPacket): number {
  return a.pn - b.pn;
}
