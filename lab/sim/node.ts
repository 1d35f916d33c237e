import { emptyHostCounters, type HostCounters } from './counters.ts';
import type { LinkDirection } from './link.ts';
import type { Nat } from './nat.ts';
import type { SimSocket } from './socket.ts';

export type NodeKind = 'core' | 'region' | 'isp' | 'cgn' | 'gateway' | 'host' | 'server';

/**
 * A flat IPv4 address space: the internet, the inside of one CGN, or one home LAN. Private ranges
 * repeat across realms (every LAN is 192.168.1.0/24), exactly as in real life.
 */
export class Realm {
  readonly addresses = new Map<string, SimNode>();
  constructor(
    readonly name: string,
    /** The node whose subtree this realm covers: the core, or the NAT that owns it. */
    readonly root: SimNode,
  ) {}
}

/** Where a node sits, for accounting intra- vs inter-ISP traffic. */
export interface NodeMeta {
  region?: string;
  isp?: string;
  gateway?: string;
  country?: string;
  behindCgn?: boolean;
  /** Free-form labels a lab wants to attach. */
  labels?: Record<string, string>;
}

/** A vertex of the topology tree. Every non-core node has one link pair to its parent. */
export class SimNode {
  readonly depth: number;
  /** This node -> parent. */
  up: LinkDirection | undefined;
  /** Parent -> this node. */
  down: LinkDirection | undefined;
  /** Address in `realm` ('' for pure routers). */
  address = '';
  realm!: Realm;
  /** NAT nodes: the realm they own, their inside address and translation state. */
  inner: Realm | undefined;
  lanAddress = '';
  nat: Nat | undefined;
  /** Core, regions and ISPs only forward: packets may pass them "ahead of time". */
  readonly router: boolean;
  readonly sockets = new Map<number, SimSocket>();
  /** Services bound on a NAT node's inside (LAN) address: NAT-PMP/PCP, SSDP. */
  readonly lanSockets = new Map<number, SimSocket>();
  readonly counters: HostCounters = emptyHostCounters();
  /** Index of the ISP this node belongs to (-1: none), for the ISP traffic matrix. */
  ispIndex = -1;
  nextEphemeralPort = 49152;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly kind: NodeKind,
    readonly parent: SimNode | undefined,
    readonly meta: NodeMeta,
  ) {
    this.depth = parent === undefined ? 0 : parent.depth + 1;
    this.router = kind === 'core' || kind === 'region' || kind === 'isp';
  }

  /** True when `this` is `ancestor` or lies in its subtree. */
  isWithin(ancestor: SimNode): boolean {
    let n: SimNode | undefined = this;
    while (n !== undefined && n.depth > ancestor.depth) n = n.parent;
    return n === ancestor;
  }

  /** The child of `n` on the way down to this node, or undefined when this node is not below `n`. */
  childTowards(n: SimNode): SimNode | undefined {
    if (this.depth <= n.depth) return undefined;
    let c: SimNode = this;
    for (let d = this.depth; d > n.depth + 1; d--) c = c.parent!;
    return c.parent === n ? c : undefined;
  }

  /** The child of `ancestor` on the way down to this node (this must be strictly below it). */
  childBelow(ancestor: SimNode): SimNode {
    let n: SimNode = this;
    while (n.parent !== ancestor) n = n.parent!;
    return n;
  }
}
