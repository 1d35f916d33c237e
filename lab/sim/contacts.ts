import type { MappingOrigin } from './nat.ts';
import type { SimNode } from './node.ts';

/**
 * How the first packet that got through between two hosts travelled, from what the network did to it:
 * - `lan`: no NAT on the way, both on one home LAN; `cgn-inside`: no NAT, both inside one CGN (100.64/10);
 * - `direct`: the receiver has a public address (only the sender's NATs translated);
 * - `hairpin`: a NAT looped it back to its own inside (two devices behind one public address);
 * - `mapped-upnp` / `mapped-nat-pmp` / `mapped-pcp` / `mapped-static`: let in by an explicit mapping,
 *   named by who made it (a static port forward is the thesis' "open port");
 * - `punched`: let in by a filter permission the receiver's own earlier packet to the sender opened —
 *   as this is the first packet of the pair to get through, that earlier packet did not: hole punching;
 * - `cone`: let in by an endpoint-independent filter (full cone, an RFC 6888 CGN) that anyone may use.
 */
export type ContactHow =
  | 'lan'
  | 'cgn-inside'
  | 'direct'
  | 'hairpin'
  | `mapped-${MappingOrigin}`
  | 'punched'
  | 'cone';

/** Bits a packet collects on its way (Packet.via); the network sets them, `classify` reads them. */
export const VIA_TRANSLATED = 1;
export const VIA_HAIRPIN = 2;
export const VIA_EXPLICIT = 4;
export const VIA_PERMITTED = 8;
export const VIA_OPEN = 16;

/** One pair of hosts that exchanged (or tried to exchange) UDP datagrams. */
export interface Contact {
  /** The host whose packet to the other was seen first. */
  initiator: SimNode;
  other: SimNode;
  /** Virtual ms of the first packet seen, and the first delivered one (-1: none yet). */
  firstSeen: number;
  firstDelivered: number;
  /** Datagrams delivered initiator -> other and other -> initiator. */
  forward: number;
  backward: number;
  /** Datagrams of the pair dropped (any cause). */
  dropped: number;
  /** How the first delivered datagram got through. */
  how: ContactHow | undefined;
}

/** Packets from a host to an address the network could not tie to any host (e.g. an unmapped port). */
export interface UnresolvedContacts {
  from: SimNode;
  /** Distinct destination addresses and the datagrams sent to them. */
  targets: number;
  dropped: number;
}

/**
 * Host-to-host contacts as the simulated network saw them: every datagram between two hosts (devices
 * or servers; a lab filters) is counted under the unordered pair, with whether it arrived and how the
 * first one that arrived got through. A counter of the running network, not a model of it.
 */
export class ContactTable {
  private readonly pairs = new Map<number, Contact>();
  private readonly unresolved = new Map<SimNode, { targets: Set<string>; dropped: number }>();

  delivered(from: SimNode, to: SimNode, via: number, origin: MappingOrigin | undefined, now: number): void {
    const c = this.pair(from, to, now);
    if (c.initiator === from) c.forward++;
    else c.backward++;
    if (c.how === undefined) {
      c.how = classify(via, origin, to);
      c.firstDelivered = now;
    }
  }

  dropped(from: SimNode, to: SimNode | undefined, target: string, now: number): void {
    if (to === undefined) {
      let u = this.unresolved.get(from);
      if (u === undefined) {
        u = { targets: new Set(), dropped: 0 };
        this.unresolved.set(from, u);
      }
      u.targets.add(target);
      u.dropped++;
      return;
    }
    this.pair(from, to, now).dropped++;
  }

  contacts(): Contact[] {
    return [...this.pairs.values()];
  }

  unresolvedContacts(): UnresolvedContacts[] {
    return [...this.unresolved].map(([from, u]) => ({ from, targets: u.targets.size, dropped: u.dropped }));
  }

  private pair(a: SimNode, b: SimNode, now: number): Contact {
    const key = a.id < b.id ? a.id * 2_097_152 + b.id : b.id * 2_097_152 + a.id;
    let c = this.pairs.get(key);
    if (c === undefined) {
      c = {
        initiator: a,
        other: b,
        firstSeen: now,
        firstDelivered: -1,
        forward: 0,
        backward: 0,
        dropped: 0,
        how: undefined,
      };
      this.pairs.set(key, c);
    }
    return c;
  }
}

/** Strongest mechanism first: a hairpin or a mapping is what made the path, not the NAT it crossed. */
function classify(via: number, origin: MappingOrigin | undefined, to: SimNode): ContactHow {
  if (via & VIA_HAIRPIN) return 'hairpin';
  if (via & VIA_EXPLICIT) return `mapped-${origin ?? 'static'}`;
  if (via & VIA_PERMITTED) return 'punched';
  if (via & VIA_OPEN) return 'cone';
  if (via & VIA_TRANSLATED) return 'direct';
  const root = to.realm.root;
  if (root.kind === 'gateway') return 'lan';
  if (root.kind === 'cgn') return 'cgn-inside';
  return 'direct';
}
