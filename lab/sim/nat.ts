import type { Random } from '../../runtime/index.ts';
import type { DropCause } from './counters.ts';

/** RFC 4787 behaviour classes, used for both mapping and filtering. */
export type NatBehavior = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
export type PortAssignment = 'preserving' | 'sequential' | 'random';

export interface NatOptions {
  /** Default endpoint-independent (RFC 4787 REQ-1). */
  mapping?: NatBehavior;
  /** Default address-and-port-dependent (a typical home router). */
  filtering?: NatBehavior;
  /** Default preserving (falls back to sequential when the port is taken). */
  portAssignment?: PortAssignment;
  /** Idle time after which a mapping dies; outbound traffic refreshes it. Default 120 000 ms. */
  mappingTimeoutMs?: number;
  /** Whether inbound traffic refreshes a mapping too (RFC 4787 REQ-6 allows either); default false. */
  refreshOnInbound?: boolean;
  /** Loop packets sent to our own external address back inside (RFC 4787 REQ-9). Default true. */
  hairpinning?: boolean;
  /**
   * CGN only: ports per subscriber (RFC 6888 port blocks). Each subscriber's mappings come from one
   * block on its paired pool address. Default: whole port range (home NAT).
   */
  portBlockSize?: number;
  /** First external port handed out; default 1024. */
  minPort?: number;
}

/** The classic names, as RFC 4787 mapping/filtering pairs. */
export const natPresets = {
  /** Endpoint-independent mapping and filtering ("full cone"). */
  fullCone: { mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  /** EIM, address-dependent filtering ("(address-)restricted cone"). */
  addressRestricted: { mapping: 'endpoint-independent', filtering: 'address-dependent' },
  /** EIM, address-and-port-dependent filtering ("port-restricted cone"). */
  portRestricted: { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  /** Address-and-port-dependent mapping and filtering ("symmetric"), random ports. */
  symmetric: {
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    portAssignment: 'random',
  },
  /** An RFC 6888-conformant CGN: EIM, EIF, paired pooling, 2048-port blocks. */
  cgnEim: {
    mapping: 'endpoint-independent',
    filtering: 'endpoint-independent',
    portAssignment: 'sequential',
    portBlockSize: 2048,
  },
  /** A CGN with address-and-port-dependent mapping (NAT444 "hard" NAT). */
  cgnSymmetric: {
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    portAssignment: 'sequential',
    portBlockSize: 2048,
  },
} as const satisfies Record<string, NatOptions>;

export type Protocol = 'udp' | 'tcp';

export interface NatMapping {
  readonly protocol: Protocol;
  readonly internalIp: string;
  readonly internalPort: number;
  readonly externalIp: string;
  readonly externalPort: number;
  /** '' for endpoint-independent mappings, else the remote ip or ip:port it is bound to. */
  readonly remoteKey: string;
  /** Created by a port-mapping protocol (UPnP, NAT-PMP, PCP): no filtering, fixed lease. */
  readonly explicit: boolean;
  /** Explicit mappings: who made it (for the lab's connection matrix). */
  via: MappingOrigin | undefined;
  lastActive: number;
  /** Explicit mappings only: absolute expiry (Infinity = permanent). */
  leaseEnd: number;
  description: string;
  /** Filtering permissions: remote key -> last outbound time. */
  readonly permissions: Map<string, number>;
}

interface Subscriber {
  externalIp: string;
  low: number;
  high: number;
  nextPort: number;
  used: number;
}

export interface NatStats {
  mappingsCreated: number;
  explicitMappings: number;
  subscribers: number;
}

/** Who created an explicit mapping: a port-mapping protocol, or the owner's static port forward. */
export type MappingOrigin = 'upnp' | 'nat-pmp' | 'pcp' | 'static';

/**
 * How the last successful inbound translation let a packet in: an explicit mapping, a dynamic one
 * whose filter had a permission for the sender (the inside host had sent to it first), or a dynamic
 * one with endpoint-independent filtering (anyone may send).
 */
export const INBOUND_EXPLICIT = 1;
export const INBOUND_PERMITTED = 2;
export const INBOUND_OPEN = 3;

/** Result of a translation: a drop cause, or undefined on success (the packet was rewritten). */
export type NatVerdict = DropCause | undefined;

/** The address fields a NAT rewrites. */
export interface NatPacket {
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
}

/**
 * A NAT44 box: RFC 4787 mapping and filtering, port assignment, timeouts, hairpinning, and (for a
 * CGN) paired address pooling with per-subscriber port blocks. Pure state machine over packets and a
 * `now`; the network decides when to call it.
 */
export class Nat {
  readonly mapping: NatBehavior;
  readonly filtering: NatBehavior;
  readonly portAssignment: PortAssignment;
  readonly timeoutMs: number;
  readonly hairpinning: boolean;
  private readonly refreshOnInbound: boolean;
  private readonly blockSize: number;
  private readonly minPort: number;
  /** internal ip:port|remoteKey -> mapping */
  private readonly outbound = new Map<string, NatMapping>();
  /** (protocol, external ip index, port) -> mapping; numeric keys keep the per-packet path cheap. */
  private readonly inbound = new Map<number, NatMapping>();
  /** internal ip:port -> explicit mapping, so outbound traffic reuses it (RFC 6886 §3.3). */
  private readonly explicitByInternal = new Map<string, NatMapping>();
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly blocksUsed = new Map<string, number>();
  private nextPoolIndex = 0;
  readonly stats: NatStats = { mappingsCreated: 0, explicitMappings: 0, subscribers: 0 };
  /** Set by every successful `translateInbound`: one of the INBOUND_* kinds, and the mapping used. */
  lastInboundKind = 0;
  lastInboundMapping: NatMapping | undefined;

  constructor(
    /** Public (outside) addresses. A home gateway has one; a CGN a pool. */
    readonly externalIps: readonly string[],
    options: NatOptions,
    private readonly random: Random,
  ) {
    if (externalIps.length === 0) throw new RangeError('a NAT needs at least one external address');
    this.mapping = options.mapping ?? 'endpoint-independent';
    this.filtering = options.filtering ?? 'address-and-port-dependent';
    this.portAssignment = options.portAssignment ?? 'preserving';
    this.timeoutMs = options.mappingTimeoutMs ?? 120_000;
    this.hairpinning = options.hairpinning ?? true;
    this.refreshOnInbound = options.refreshOnInbound ?? false;
    this.minPort = options.minPort ?? 1024;
    this.blockSize = options.portBlockSize ?? 65536 - this.minPort;
  }

  isExternal(ip: string): boolean {
    return this.externalIps.includes(ip);
  }

  /** Inbound table key: protocol, external address index, port. -1 (not our address) is never stored. */
  private key(protocol: Protocol, externalIp: string, port: number): number {
    const ips = this.externalIps;
    const index = ips.length === 1 ? (ips[0] === externalIp ? 0 : -1) : ips.indexOf(externalIp);
    if (index < 0) return -1;
    return (protocol === 'udp' ? 0 : 4_294_967_296) + index * 65536 + port;
  }

  /** The external address a subscriber (internal ip) is paired with (RFC 6888 paired pooling). */
  externalIpFor(internalIp: string): string {
    return this.subscriber(internalIp).externalIp;
  }

  /** The port block [low, high] of a subscriber. */
  portBlockFor(internalIp: string): { externalIp: string; low: number; high: number } {
    const s = this.subscriber(internalIp);
    return { externalIp: s.externalIp, low: s.low, high: s.high };
  }

  /** Rewrites the source of an inside->outside packet; creates or refreshes the mapping. */
  translateOutbound(p: NatPacket, now: number): NatVerdict {
    const internal = `${p.srcIp}:${p.srcPort}`;
    let m = this.explicitByInternal.size > 0 ? this.explicitByInternal.get(internal) : undefined;
    if (m !== undefined && m.leaseEnd <= now) {
      this.removeMapping(m);
      m = undefined;
    }
    if (m === undefined) {
      const remoteKey =
        this.mapping === 'endpoint-independent'
          ? ''
          : this.mapping === 'address-dependent'
            ? p.dstIp
            : `${p.dstIp}:${p.dstPort}`;
      const key = remoteKey === '' ? internal : `${internal}|${remoteKey}`;
      m = this.outbound.get(key);
      if (m !== undefined && now - m.lastActive > this.timeoutMs) {
        this.removeMapping(m);
        m = undefined;
      }
      if (m === undefined) {
        const created = this.createMapping('udp', p.srcIp, p.srcPort, remoteKey, 0, now, false);
        if (created === undefined) return 'nat-exhausted';
        m = created;
        this.outbound.set(key, m);
      }
    }
    m.lastActive = now;
    if (!m.explicit && this.filtering !== 'endpoint-independent') {
      m.permissions.set(this.filtering === 'address-dependent' ? p.dstIp : `${p.dstIp}:${p.dstPort}`, now);
    }
    p.srcIp = m.externalIp;
    p.srcPort = m.externalPort;
    return undefined;
  }

  /** Rewrites the destination of an outside->inside packet addressed to one of our external addresses. */
  translateInbound(p: NatPacket, now: number): NatVerdict {
    const m = this.inbound.get(this.key('udp', p.dstIp, p.dstPort));
    if (m === undefined) return 'nat-filter';
    if (m.explicit ? m.leaseEnd <= now : now - m.lastActive > this.timeoutMs) {
      this.removeMapping(m);
      return 'mapping-expired';
    }
    if (!m.explicit && this.filtering !== 'endpoint-independent') {
      const key = this.filtering === 'address-dependent' ? p.srcIp : `${p.srcIp}:${p.srcPort}`;
      const allowed = m.permissions.get(key);
      if (allowed === undefined || now - allowed > this.timeoutMs) return 'nat-filter';
      if (this.refreshOnInbound) m.lastActive = now;
    } else if (this.refreshOnInbound && !m.explicit) m.lastActive = now;
    this.lastInboundKind = m.explicit
      ? INBOUND_EXPLICIT
      : this.filtering === 'endpoint-independent'
        ? INBOUND_OPEN
        : INBOUND_PERMITTED;
    this.lastInboundMapping = m;
    p.dstIp = m.internalIp;
    p.dstPort = m.internalPort;
    return undefined;
  }

  /**
   * Adds a mapping on request of a port-mapping protocol. `externalPort` 0 = any. Returns the mapping,
   * or 'conflict' when the requested port is held by another internal endpoint and `anyPortOnConflict`
   * is false, or 'exhausted'.
   */
  addExplicitMapping(
    request: {
      protocol: Protocol;
      internalIp: string;
      internalPort: number;
      externalPort: number;
      lifetimeMs: number;
      description?: string;
      anyPortOnConflict?: boolean;
      /** Who asks: a port-mapping protocol or a static forward. */
      via?: MappingOrigin;
    },
    now: number,
  ): NatMapping | 'conflict' | 'exhausted' {
    const { protocol, internalIp, internalPort } = request;
    const leaseEnd = request.lifetimeMs === Infinity ? Infinity : now + request.lifetimeMs;
    const internalKey = `${internalIp}:${internalPort}`;
    const existing = protocol === 'udp' ? this.explicitByInternal.get(internalKey) : undefined;
    const sub = this.subscriber(internalIp);
    if (request.externalPort > 0) {
      const holder = this.inbound.get(this.key(protocol, sub.externalIp, request.externalPort));
      const holderLive = holder !== undefined && !this.expired(holder, now);
      if (holderLive && holder.internalIp === internalIp && holder.internalPort === internalPort) {
        holder.leaseEnd = leaseEnd;
        if (request.description !== undefined) holder.description = request.description;
        return holder;
      }
      const inBlock = request.externalPort >= sub.low && request.externalPort <= sub.high;
      if (!holderLive && inBlock) {
        if (holder !== undefined) this.removeMapping(holder);
        if (existing !== undefined) this.removeMapping(existing);
        return this.insertExplicit(
          protocol,
          internalIp,
          internalPort,
          request.externalPort,
          leaseEnd,
          request,
          now,
        );
      }
      if (!request.anyPortOnConflict) return 'conflict';
    }
    if (existing !== undefined && !this.expired(existing, now)) {
      existing.leaseEnd = leaseEnd;
      return existing;
    }
    const port = this.allocatePort(sub, protocol, internalPort, now);
    if (port === undefined) return 'exhausted';
    return this.insertExplicit(protocol, internalIp, internalPort, port, leaseEnd, request, now);
  }

  /** Removes an explicit mapping by external port; returns whether one existed for that client. */
  removeExplicitMapping(
    protocol: Protocol,
    externalIp: string,
    externalPort: number,
    internalIp?: string,
  ): boolean {
    const m = this.inbound.get(this.key(protocol, externalIp, externalPort));
    if (m === undefined || !m.explicit) return false;
    if (internalIp !== undefined && m.internalIp !== internalIp) return false;
    this.removeMapping(m);
    return true;
  }

  /**
   * The mapping holding an external address, whatever its filter says (live or not); for working out
   * where a dropped packet was headed.
   */
  peekInbound(protocol: Protocol, externalIp: string, externalPort: number): NatMapping | undefined {
    return this.inbound.get(this.key(protocol, externalIp, externalPort));
  }

  /** Explicit mapping of an internal endpoint, if any (NAT-PMP/PCP delete by internal port). */
  explicitMappingOf(protocol: Protocol, internalIp: string, internalPort: number): NatMapping | undefined {
    for (const m of this.inbound.values()) {
      if (
        m.explicit &&
        m.protocol === protocol &&
        m.internalIp === internalIp &&
        m.internalPort === internalPort
      )
        return m;
    }
    return undefined;
  }

  /**
   * Forgets every dynamic mapping (and explicit ones too if asked), as a router reboot or a NAT
   * rebinding does: the next outbound packet gets a fresh external port.
   */
  flush(options: { explicit?: boolean } = {}): void {
    for (const m of [...this.inbound.values()]) if (options.explicit || !m.explicit) this.removeMapping(m);
  }

  /** Live mappings (expired ones are skipped, not removed). */
  mappings(now: number): NatMapping[] {
    return [...this.inbound.values()].filter((m) => !this.expired(m, now));
  }

  private expired(m: NatMapping, now: number): boolean {
    return m.explicit ? m.leaseEnd <= now : now - m.lastActive > this.timeoutMs;
  }

  private insertExplicit(
    protocol: Protocol,
    internalIp: string,
    internalPort: number,
    externalPort: number,
    leaseEnd: number,
    request: { description?: string; via?: MappingOrigin },
    now: number,
  ): NatMapping {
    const m = this.createMapping(protocol, internalIp, internalPort, '', externalPort, now, true)!;
    m.leaseEnd = leaseEnd;
    m.description = request.description ?? '';
    m.via = request.via;
    if (protocol === 'udp') this.explicitByInternal.set(`${internalIp}:${internalPort}`, m);
    this.stats.explicitMappings++;
    return m;
  }

  private createMapping(
    protocol: Protocol,
    internalIp: string,
    internalPort: number,
    remoteKey: string,
    fixedPort: number,
    now: number,
    explicit: boolean,
  ): NatMapping | undefined {
    const sub = this.subscriber(internalIp);
    const port = fixedPort > 0 ? fixedPort : this.allocatePort(sub, protocol, internalPort, now);
    if (port === undefined) return undefined;
    const m: NatMapping = {
      protocol,
      internalIp,
      internalPort,
      externalIp: sub.externalIp,
      externalPort: port,
      remoteKey,
      explicit,
      via: undefined,
      lastActive: now,
      leaseEnd: Infinity,
      description: '',
      permissions: new Map(),
    };
    this.inbound.set(this.key(protocol, sub.externalIp, port), m);
    sub.used++;
    this.stats.mappingsCreated++;
    return m;
  }

  private removeMapping(m: NatMapping): void {
    const key = this.key(m.protocol, m.externalIp, m.externalPort);
    if (this.inbound.get(key) === m) this.inbound.delete(key);
    const internal = `${m.internalIp}:${m.internalPort}`;
    if (m.explicit) {
      if (this.explicitByInternal.get(internal) === m) this.explicitByInternal.delete(internal);
    } else {
      const okey = m.remoteKey === '' ? internal : `${internal}|${m.remoteKey}`;
      if (this.outbound.get(okey) === m) this.outbound.delete(okey);
    }
    const sub = this.subscribers.get(m.internalIp);
    if (sub) sub.used--;
  }

  /** Free = no mapping holds it, or the one holding it has expired (which is then reclaimed). */
  private portFree(sub: Subscriber, protocol: Protocol, port: number, now: number): boolean {
    const holder = this.inbound.get(this.key(protocol, sub.externalIp, port));
    if (holder === undefined) return true;
    if (!this.expired(holder, now)) return false;
    this.removeMapping(holder);
    return true;
  }

  private allocatePort(
    sub: Subscriber,
    protocol: Protocol,
    internalPort: number,
    now: number,
  ): number | undefined {
    const size = sub.high - sub.low + 1;
    if (
      this.portAssignment === 'preserving' &&
      internalPort >= sub.low &&
      internalPort <= sub.high &&
      this.portFree(sub, protocol, internalPort, now)
    )
      return internalPort;
    if (this.portAssignment === 'random') {
      for (let tries = 0; tries < 16; tries++) {
        const port = sub.low + this.random.int(size);
        if (this.portFree(sub, protocol, port, now)) return port;
      }
    }
    for (let i = 0; i < size; i++) {
      const port = sub.nextPort;
      sub.nextPort = port >= sub.high ? sub.low : port + 1;
      if (this.portFree(sub, protocol, port, now)) return port;
    }
    return undefined;
  }

  private subscriber(internalIp: string): Subscriber {
    let s = this.subscribers.get(internalIp);
    if (s !== undefined) return s;
    // Paired pooling: a subscriber keeps one external address; blocks fill addresses round-robin.
    const blocksPerIp = Math.max(1, Math.floor((65536 - this.minPort) / this.blockSize));
    let externalIp: string | undefined;
    let blockIndex = 0;
    for (let i = 0; i < this.externalIps.length; i++) {
      const candidate = this.externalIps[(this.nextPoolIndex + i) % this.externalIps.length]!;
      const used = this.blocksUsed.get(candidate) ?? 0;
      if (used < blocksPerIp) {
        externalIp = candidate;
        blockIndex = used;
        this.nextPoolIndex = (this.nextPoolIndex + i + 1) % this.externalIps.length;
        break;
      }
    }
    if (externalIp === undefined) {
      // Pool full: share the last block rather than refuse (counted as exhaustion when ports run out).
      externalIp = this.externalIps[0]!;
      blockIndex = blocksPerIp - 1;
    } else {
      this.blocksUsed.set(externalIp, blockIndex + 1);
    }
    const low = this.minPort + blockIndex * this.blockSize;
    const high = Math.min(65535, low + this.blockSize - 1);
    s = { externalIp, low, high, nextPort: low, used: 0 };
    this.subscribers.set(internalIp, s);
    this.stats.subscribers++;
    return s;
  }
}
