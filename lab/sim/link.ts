import type { Random } from '../../runtime/index.ts';
import { emptyLinkCounters, type LinkCounters } from './counters.ts';

/** IPv4 + UDP header bytes added to every payload for serialization and MTU checks. */
export const UDP_IP_OVERHEAD = 28;

/** Bursty loss: a two-state Markov chain (good/bad) evaluated per packet. */
export interface GilbertElliott {
  /** P(good -> bad) per packet. */
  p: number;
  /** P(bad -> good) per packet. */
  r: number;
  /** Loss probability in the bad state (default 1). */
  lossBad?: number;
  /** Loss probability in the good state (default 0). */
  lossGood?: number;
}

/** One direction of a link. Every field is optional; the defaults give a perfect wire. */
export interface LinkSpec {
  /** Bits per second; default Infinity (no serialization delay, no queue). */
  bandwidthBps?: number;
  /** One-way propagation delay, ms; default 0. */
  delayMs?: number;
  /** Extra delay drawn uniformly from [0, jitterMs) per packet; default 0. Large jitter reorders. */
  jitterMs?: number;
  /** Uniform loss probability, or a Gilbert-Elliott burst model; default 0. */
  loss?: number | GilbertElliott;
  /** With this probability a packet is held back an extra `reorderDelayMs` (netem-style); default 0. */
  reorder?: number;
  reorderDelayMs?: number;
  /** Probability a packet is delivered twice; default 0. */
  duplicate?: number;
  /** Largest IP packet (payload + 28) the link carries; default 1500. */
  mtu?: number;
  /** Drop-tail queue limit in bytes; default max(64 KiB, 100 ms at the link rate). */
  queueBytes?: number;
}

/** A link: the same spec both ways, or `up` (towards the internet) and `down` overriding it. */
export interface LinkOptions extends LinkSpec {
  up?: LinkSpec;
  down?: LinkSpec;
}

export function splitLink(options: LinkOptions = {}): { up: LinkSpec; down: LinkSpec } {
  const { up, down, ...both } = options;
  return { up: { ...both, ...up }, down: { ...both, ...down } };
}

/** Gilbert-Elliott parameters for a mean loss rate and mean burst length (in packets). */
export function burstyLoss(meanLoss: number, meanBurstPackets = 3): GilbertElliott {
  const r = 1 / meanBurstPackets;
  return { p: (meanLoss * r) / (1 - meanLoss), r, lossBad: 1, lossGood: 0 };
}

/**
 * One direction of a link: a FIFO single server (serialization at `bandwidthBps`) behind a drop-tail
 * queue, then propagation. The queue needs no packet list: with FIFO service the backlog at any
 * arrival is (busyUntil - now) x rate, so admitting a packet is O(1) and allocation-free.
 */
export class LinkDirection {
  readonly counters: LinkCounters = emptyLinkCounters();
  readonly bandwidthBps: number;
  readonly delayMs: number;
  readonly mtu: number;
  private readonly bytesPerMs: number;
  private readonly queueBytes: number;
  private readonly jitterMs: number;
  private readonly uniformLoss: number;
  private readonly ge: GilbertElliott | undefined;
  private readonly reorder: number;
  private readonly reorderDelayMs: number;
  private readonly duplicateP: number;
  /** Time the serializer finishes the last admitted packet. */
  private busyUntil = 0;
  private geBad = false;
  /** Set by `admit` when it returns -1. */
  lastDrop: 'loss' | 'queue' | 'mtu' | 'link-down' = 'loss';
  /** A down link drops everything offered to it (Wi-Fi gone, cable pulled). */
  down = false;
  /** Set by `admit`: the packet should be delivered twice. */
  lastDuplicate = false;

  constructor(
    readonly name: string,
    spec: LinkSpec,
    private readonly random: Random,
  ) {
    this.bandwidthBps = spec.bandwidthBps ?? Infinity;
    this.delayMs = spec.delayMs ?? 0;
    this.jitterMs = spec.jitterMs ?? 0;
    this.mtu = spec.mtu ?? 1500;
    this.bytesPerMs = this.bandwidthBps / 8000;
    this.queueBytes = spec.queueBytes ?? Math.max(64 * 1024, this.bytesPerMs * 100);
    if (typeof spec.loss === 'object') {
      this.ge = spec.loss;
      this.uniformLoss = 0;
    } else {
      this.ge = undefined;
      this.uniformLoss = spec.loss ?? 0;
    }
    this.reorder = spec.reorder ?? 0;
    this.reorderDelayMs = spec.reorderDelayMs ?? Math.max(1, this.delayMs / 2);
    this.duplicateP = spec.duplicate ?? 0;
  }

  /** Long-run loss probability (uniform, or the Gilbert-Elliott stationary mean). */
  get meanLoss(): number {
    const ge = this.ge;
    if (ge === undefined) return this.uniformLoss;
    const bad = ge.p / (ge.p + ge.r);
    return bad * (ge.lossBad ?? 1) + (1 - bad) * (ge.lossGood ?? 0);
  }

  /** True when packets cross without queueing or delay (the forwarder may continue synchronously). */
  get instant(): boolean {
    return this.bandwidthBps === Infinity && this.delayMs === 0 && this.jitterMs === 0 && this.reorder === 0;
  }

  /**
   * Offers a packet of `payloadBytes` at time `now`. Returns the arrival time at the far end, or -1
   * if dropped (`lastDrop` says why). Loss is applied after the queue: a lost packet still used the
   * wire, as on a radio link.
   */
  admit(payloadBytes: number, now: number): number {
    const c = this.counters;
    c.packets++;
    c.bytes += payloadBytes;
    if (this.down) {
      this.lastDrop = 'link-down';
      c.dropped['link-down']++;
      return -1;
    }
    const wire = payloadBytes + UDP_IP_OVERHEAD;
    if (wire > this.mtu) {
      this.lastDrop = 'mtu';
      c.dropped.mtu++;
      return -1;
    }
    let departure = now;
    if (this.bandwidthBps !== Infinity) {
      const start = Math.max(this.busyUntil, now);
      const backlogBytes = (start - now) * this.bytesPerMs;
      if (backlogBytes + wire > this.queueBytes) {
        this.lastDrop = 'queue';
        c.dropped.queue++;
        return -1;
      }
      departure = start + wire / this.bytesPerMs;
      this.busyUntil = departure;
    }
    if (this.lost()) {
      this.lastDrop = 'loss';
      c.dropped.loss++;
      return -1;
    }
    let arrival = departure + this.delayMs;
    if (this.jitterMs > 0) arrival += this.random.float() * this.jitterMs;
    if (this.reorder > 0 && this.random.float() < this.reorder) {
      arrival += this.reorderDelayMs;
      c.reordered++;
    }
    this.lastDuplicate = this.duplicateP > 0 && this.random.float() < this.duplicateP;
    if (this.lastDuplicate) c.duplicated++;
    c.deliveredPackets++;
    c.deliveredBytes += payloadBytes;
    return arrival;
  }

  private lost(): boolean {
    const ge = this.ge;
    if (ge === undefined) return this.uniformLoss > 0 && this.random.float() < this.uniformLoss;
    // Transition first, then lose with the new state's probability.
    if (this.geBad) {
      if (this.random.float() < ge.r) this.geBad = false;
    } else if (this.random.float() < ge.p) this.geBad = true;
    const p = this.geBad ? (ge.lossBad ?? 1) : (ge.lossGood ?? 0);
    return p > 0 && this.random.float() < p;
  }
}
