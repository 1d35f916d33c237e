import type { Address } from '../../runtime/index.ts';
import {
  ContactTable,
  VIA_EXPLICIT,
  VIA_HAIRPIN,
  VIA_OPEN,
  VIA_PERMITTED,
  VIA_TRANSLATED,
} from './contacts.ts';
import { type DropCause, type DropCounters, emptyDrops } from './counters.ts';
import type { LinkDirection } from './link.ts';
import { INBOUND_EXPLICIT, INBOUND_OPEN, type MappingOrigin, type Nat } from './nat.ts';
import type { Realm, SimNode } from './node.ts';
import type { Scheduler } from './scheduler.ts';
import { SimSocket, type SocketHost } from './socket.ts';
import type { TraceHash } from './trace.ts';

/** A datagram in flight. NATs rewrite the address fields in place. */
export interface Packet {
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  payload: Uint8Array;
  /** The sending node, for counters and the ISP matrix. */
  origin: SimNode;
  /** Where the packet is now, in which address realm, at what virtual time. */
  node: SimNode;
  realm: Realm;
  time: number;
  /** VIA_* bits: what the NATs on the way did to it (for the contact table). */
  via: number;
  /** Who made the explicit mapping that let it in, when one did. */
  mappedBy: MappingOrigin | undefined;
}

/**
 * Bytes that arrived, as seen by `onDeliver` observers (labs use it for byte accounting): one event
 * per delivered datagram (payload bytes), and per completed HTTP request and response (head + body).
 */
export interface DeliveryEvent {
  from: SimNode;
  to: SimNode;
  bytes: number;
  protocol: 'udp' | 'http';
}

export interface NetworkTotals {
  sent: number;
  delivered: number;
  deliveredBytes: number;
  dropped: DropCounters;
}

const TRACE_DELIVER = 0;
const DROP_CODES: Record<DropCause, number> = {
  loss: 1,
  queue: 2,
  mtu: 3,
  'nat-filter': 4,
  'mapping-expired': 5,
  'nat-exhausted': 6,
  hairpin: 7,
  'no-route': 8,
  'no-listener': 9,
  'link-down': 10,
};

export const SSDP_MULTICAST = '239.255.255.250';

/**
 * Packet forwarding over the topology tree. At each node a packet is either delivered, translated by
 * the node's NAT, sent down towards the child holding its destination, or sent up. Pure routers (core,
 * regions, ISPs) and infinite-bandwidth links are crossed "ahead of time" with the packet's own
 * timestamp; the packet is parked in the scheduler only where order matters: before a finite-bandwidth
 * link (queue state), at a NAT (mapping state) and at delivery. A typical device-to-device packet
 * costs two or three events.
 */
export class Network implements SocketHost {
  readonly totals: NetworkTotals = { sent: 0, delivered: 0, deliveredBytes: 0, dropped: emptyDrops() };
  /** Bytes delivered from ISP i to ISP j, key i * 65536 + j (-1 -> 65535 for "no ISP"). */
  readonly ispMatrix = new Map<number, number>();
  /** Device-to-device contacts (hosts of kind 'host'): attempted, delivered, and how. */
  readonly contacts = new ContactTable();
  private sending = false;
  private slab = new Uint8Array(256 * 1024);
  private slabUsed = 0;
  private readonly observers: Array<(e: DeliveryEvent) => void> = [];
  private readonly resumeBound = (p: Packet): void => this.forward(p);
  private readonly deliverBound = (p: Packet): void => this.deliver(p, p.node, false);

  constructor(
    private readonly scheduler: Scheduler,
    private readonly trace: TraceHash | undefined,
  ) {}

  onDeliver(observer: (e: DeliveryEvent) => void): () => void {
    this.observers.push(observer);
    return () => {
      const i = this.observers.indexOf(observer);
      if (i >= 0) this.observers.splice(i, 1);
    };
  }

  /** Reports bytes delivered outside the packet path (the HTTP channel) to `onDeliver` observers. */
  notify(event: DeliveryEvent): void {
    for (const observer of this.observers) observer(event);
  }

  bind(node: SimNode, ip: string, port: number, lan = false): SimSocket {
    const table = lan ? node.lanSockets : node.sockets;
    let chosen = port;
    if (chosen === 0) {
      for (let i = 0; i < 16384; i++) {
        const candidate = node.nextEphemeralPort;
        node.nextEphemeralPort = candidate >= 65535 ? 49152 : candidate + 1;
        if (!table.has(candidate)) {
          chosen = candidate;
          break;
        }
      }
      if (chosen === 0) throw new SimBindError(`${node.name}: no free ephemeral port`);
    } else if (table.has(chosen)) {
      throw new SimBindError(`${node.name}: ${ip}:${chosen} is already in use`);
    }
    const socket = new SimSocket(this, ip, chosen, lan);
    (socket as { owner?: SimNode }).owner = node;
    table.set(chosen, socket);
    return socket;
  }

  unbind(socket: SimSocket): void {
    const node = (socket as { owner?: SimNode }).owner;
    if (node === undefined) return;
    const table = socket.lan ? node.lanSockets : node.sockets;
    if (table.get(socket.port) === socket) table.delete(socket.port);
  }

  sendFrom(socket: SimSocket, to: Address, bytes: Uint8Array, owned: boolean): void {
    const node = (socket as { owner?: SimNode }).owner!;
    const c = node.counters;
    c.udpTxPackets++;
    c.udpTxBytes += bytes.length;
    this.totals.sent++;
    const packet: Packet = {
      srcIp: socket.ip,
      srcPort: socket.port,
      dstIp: to.host,
      dstPort: to.port,
      // UDP copies on send: the caller may reuse its buffer at once, unless it gave the buffer up.
      // Every copy is off-heap memory V8 counts towards its next full collection.
      payload: owned ? bytes : this.copy(bytes),
      origin: node,
      node,
      realm: socket.lan ? node.inner! : node.realm,
      time: this.scheduler.now,
      via: 0,
      mappedBy: undefined,
    };
    if (!(to.port > 0 && to.port < 65536)) {
      this.drop(packet, 'no-route');
      return;
    }
    this.sending = true;
    try {
      // A NAT's own service answering a LAN client routes inside its realm without translation.
      if (socket.lan) this.routeInside(packet);
      else this.forward(packet);
    } finally {
      this.sending = false;
    }
  }

  /**
   * Copies a payload into a shared slab (like Node's Buffer pool): one small view object instead of
   * a fresh ArrayBuffer per packet. Receivers get a view with a byteOffset, as with node:dgram.
   */
  private copy(bytes: Uint8Array): Uint8Array {
    const n = bytes.length;
    if (n > 4096) return bytes.slice();
    if (this.slabUsed + n > this.slab.length) {
      this.slab = new Uint8Array(256 * 1024);
      this.slabUsed = 0;
    }
    const view = this.slab.subarray(this.slabUsed, this.slabUsed + n);
    view.set(bytes);
    // Keep views 8-byte aligned so receivers may build aligned typed arrays over them.
    this.slabUsed += (n + 7) & ~7;
    return view;
  }

  /** Advances a packet as far as it can go without waiting for virtual time. */
  private forward(p: Packet): void {
    const now = this.scheduler.now;
    for (;;) {
      const n = p.node;
      if (p.time > now && !n.router) {
        this.scheduler.at(p.time, this.resumeBound, p);
        return;
      }
      const inner = n.inner;
      if (inner !== undefined) {
        const nat = n.nat!;
        if (p.realm === inner) {
          if (p.dstIp === n.lanAddress || p.dstIp === SSDP_MULTICAST) {
            this.deliver(p, n, true);
            return;
          }
          if (inner.addresses.get(p.dstIp) === undefined) {
            const verdict = nat.translateOutbound(p, p.time);
            if (verdict !== undefined) {
              this.drop(p, verdict);
              return;
            }
            p.via |= VIA_TRANSLATED;
            p.realm = n.realm;
            if (nat.isExternal(p.dstIp)) {
              if (!nat.hairpinning) {
                this.drop(p, 'hairpin');
                return;
              }
              const back = nat.translateInbound(p, p.time);
              if (back !== undefined) {
                this.drop(p, back);
                return;
              }
              this.noteInbound(p, nat);
              p.via |= VIA_HAIRPIN;
              p.realm = inner;
            }
          }
        } else if (nat.isExternal(p.dstIp)) {
          const verdict = nat.translateInbound(p, p.time);
          if (verdict !== undefined) {
            this.drop(p, verdict);
            return;
          }
          this.noteInbound(p, nat);
          p.realm = inner;
        }
      }
      const realm = p.realm;
      if (n.realm === realm && n.address === p.dstIp && n.address !== '') {
        this.deliver(p, n, false);
        return;
      }
      const target = realm.addresses.get(p.dstIp);
      let link: LinkDirection;
      let next: SimNode;
      const below = target?.childTowards(n);
      if (below !== undefined) {
        next = below;
        link = below.down!;
      } else if (n === realm.root || n.parent === undefined || target === n) {
        this.drop(p, target === n ? 'no-listener' : 'no-route');
        return;
      } else {
        next = n.parent;
        link = n.up!;
      }
      if (!this.hop(p, link, next)) return;
    }
  }

  private noteInbound(p: Packet, nat: Nat): void {
    const kind = nat.lastInboundKind;
    if (kind === INBOUND_EXPLICIT) {
      p.via |= VIA_EXPLICIT;
      p.mappedBy = nat.lastInboundMapping?.via;
    } else p.via |= kind === INBOUND_OPEN ? VIA_OPEN : VIA_PERMITTED;
  }

  /** Routes a packet that starts on a NAT's inside (its own LAN services replying). */
  private routeInside(p: Packet): void {
    const n = p.node;
    const target = p.realm.addresses.get(p.dstIp);
    if (target === undefined || target === n || !target.isWithin(n)) {
      this.drop(p, 'no-route');
      return;
    }
    const next = target.childBelow(n);
    if (this.hop(p, next.down!, next)) this.forward(p);
  }

  /** Crosses one link. Returns true when the packet may continue synchronously. */
  private hop(p: Packet, link: LinkDirection, next: SimNode): boolean {
    if (p.time > this.scheduler.now && link.bandwidthBps !== Infinity) {
      // The queue must see arrivals in time order: wait until the packet really gets there.
      this.scheduler.at(p.time, this.resumeBound, p);
      return false;
    }
    const arrival = link.admit(p.payload.length, p.time);
    if (arrival < 0) {
      this.drop(p, link.lastDrop);
      return false;
    }
    if (link.lastDuplicate) {
      const copy: Packet = { ...p, node: next, time: arrival };
      this.scheduler.at(arrival, this.resumeBound, copy);
    }
    p.node = next;
    p.time = arrival;
    return true;
  }

  private deliver(p: Packet, n: SimNode, lan: boolean): void {
    if (p.time > this.scheduler.now || this.sending) {
      // Never deliver re-entrantly inside send(): real UDP hands data over on a later turn.
      this.scheduler.at(p.time, lan ? this.resumeBound : this.deliverBound, p);
      return;
    }
    const socket = (lan ? n.lanSockets : n.sockets).get(p.dstPort);
    if (socket === undefined) {
      this.drop(p, 'no-listener');
      return;
    }
    const size = p.payload.length;
    const c = n.counters;
    c.udpRxPackets++;
    c.udpRxBytes += size;
    this.totals.delivered++;
    this.totals.deliveredBytes += size;
    const key = (p.origin.ispIndex & 0xffff) * 65536 + (n.ispIndex & 0xffff);
    this.ispMatrix.set(key, (this.ispMatrix.get(key) ?? 0) + size);
    this.trace?.record(p.time, TRACE_DELIVER, p.origin.id, n.id, size);
    if (n.kind === 'host' && p.origin.kind === 'host' && n !== p.origin)
      this.contacts.delivered(p.origin, n, p.via, p.mappedBy, p.time);
    for (const observer of this.observers) observer({ from: p.origin, to: n, bytes: size, protocol: 'udp' });
    const handlers = socket.handlers;
    if (handlers.length === 0) return;
    this.scheduler.userCodeRan = true;
    const from: Address = { host: p.srcIp, port: p.srcPort };
    for (const handler of handlers) handler(p.payload, from);
  }

  private drop(p: Packet, cause: DropCause): void {
    this.totals.dropped[cause]++;
    p.origin.counters.dropped[cause]++;
    this.trace?.record(p.time, DROP_CODES[cause], p.origin.id, p.node.id, p.payload.length);
    if (p.origin.kind === 'host') {
      const to = this.intendedHost(p);
      if (to !== p.origin && (to === undefined || to.kind === 'host'))
        this.contacts.dropped(p.origin, to, `${p.dstIp}:${p.dstPort}`, p.time);
    }
  }

  /**
   * The node a dropped packet was addressed to, followed through the NATs' tables (a filter may have
   * refused it, but the mapping says whose port it is): a host, a server, or a NAT's own address;
   * undefined when nothing holds that address (e.g. a NAT port no mapping uses).
   */
  private intendedHost(p: Packet): SimNode | undefined {
    let realm = p.realm;
    let ip = p.dstIp;
    let port = p.dstPort;
    for (let step = 0; step < 8; step++) {
      const node = realm.addresses.get(ip);
      if (node === undefined) {
        // Not on this side of a NAT: look where the NAT would have sent it.
        if (realm.root.parent === undefined) return undefined;
        realm = realm.root.realm;
        continue;
      }
      const nat = node.nat;
      if (nat === undefined || node.inner === undefined || !nat.isExternal(ip)) return node;
      const m = nat.peekInbound('udp', ip, port);
      if (m === undefined) return undefined;
      realm = node.inner;
      ip = m.internalIp;
      port = m.internalPort;
    }
    return undefined;
  }
}

export class SimBindError extends Error {
  readonly code = 'EADDRINUSE';
  constructor(message: string) {
    super(message);
    this.name = 'SimBindError';
  }
}
