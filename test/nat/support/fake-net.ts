// A small in-memory IPv4 network with RFC 4787 NAT models, driven by a ManualClock. It exists so the
// NAT unit tests do not depend on lab/sim; the pair-matrix test also runs on lab/sim when available.
import type { Address, DatagramHandler, Random, UdpNetwork, UdpSocket } from '../../../runtime/index.ts';
import type { ManualClock } from './manual-clock.ts';

export type Behaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface NatSpec {
  publicIp: string;
  mapping: Behaviour;
  filtering: Behaviour;
  hairpin?: boolean;
  /** Preserve the internal port when free (EIM NATs commonly do). Default true for EIM. */
  preservePort?: boolean;
}

interface Realm {
  nat?: FakeNat;
  parent?: Realm;
  hosts: Set<string>;
  sockets: Map<string, Set<DatagramHandler>>;
}

interface Mapping {
  internal: Address;
  external: Address;
  permitted: Set<string>;
}

class FakeNat {
  readonly mappings = new Map<string, Mapping>(); // key: internal|destKey
  readonly byPort = new Map<number, Mapping>();
  constructor(
    readonly spec: NatSpec,
    readonly inside: Realm,
    readonly outside: Realm,
    private readonly random: Random,
  ) {}
  private destKey(b: Behaviour, dst: Address): string {
    return b === 'endpoint-independent'
      ? '*'
      : b === 'address-dependent'
        ? dst.host
        : `${dst.host}:${dst.port}`;
  }
  outbound(src: Address, dst: Address): Address {
    const key = `${src.host}:${src.port}|${this.destKey(this.spec.mapping, dst)}`;
    let m = this.mappings.get(key);
    if (!m) {
      let port = src.port;
      const preserve = this.spec.preservePort ?? this.spec.mapping === 'endpoint-independent';
      if (!preserve || this.byPort.has(port)) {
        do port = 1024 + this.random.int(64000);
        while (this.byPort.has(port));
      }
      m = { internal: src, external: { host: this.spec.publicIp, port }, permitted: new Set() };
      this.mappings.set(key, m);
      this.byPort.set(port, m);
    }
    m.permitted.add(this.destKey(this.spec.filtering, dst));
    return m.external;
  }
  inbound(src: Address, dst: Address): Address | undefined {
    const m = this.byPort.get(dst.port);
    if (!m) return undefined;
    if (!m.permitted.has(this.destKey(this.spec.filtering, src))) return undefined;
    return m.internal;
  }
}

export interface FakeHost {
  ip: string;
  udp: UdpNetwork;
}

export interface FakeNet {
  /** The public internet realm. */
  internet: Realm;
  /** Creates a NAT whose outside is `outside` (default the internet); returns the inside realm. */
  nat(spec: NatSpec, outside?: Realm): Realm;
  host(ip: string, realm?: Realm): FakeHost;
  /** Datagrams sent / delivered, to assert that nothing was lost silently. */
  stats(): { sent: number; delivered: number; dropped: number };
}

export function createFakeNet(
  clock: ManualClock,
  random: Random,
  options: { latencyMs?: number } = {},
): FakeNet {
  const latency = options.latencyMs ?? 10;
  const internet: Realm = { hosts: new Set(), sockets: new Map() };
  const nats: FakeNat[] = [];
  let sent = 0;
  let delivered = 0;
  let dropped = 0;

  // Routes a datagram that is currently in `realm` with source `src`.
  const route = (realm: Realm, src: Address, dst: Address, bytes: Uint8Array, hops = 0): void => {
    if (hops > 8) {
      dropped++;
      return;
    }
    if (realm.hosts.has(dst.host)) {
      const handlers = realm.sockets.get(`${dst.host}:${dst.port}`);
      if (!handlers) {
        dropped++;
        return;
      }
      delivered++;
      for (const h of handlers) h(bytes, src);
      return;
    }
    // A NAT whose public address lives in this realm: inbound translation.
    const nat = nats.find((n) => n.outside === realm && n.spec.publicIp === dst.host);
    if (nat) {
      const internal = nat.inbound(src, dst);
      if (!internal) {
        dropped++;
        return;
      }
      route(nat.inside, src, internal, bytes, hops + 1);
      return;
    }
    if (realm.nat && realm.parent) {
      const natOut = realm.nat;
      const external = natOut.outbound(src, dst);
      if (dst.host === natOut.spec.publicIp) {
        // Hairpin: back in through our own NAT, seen from the translated source.
        if (!natOut.spec.hairpin) {
          dropped++;
          return;
        }
        const internal = natOut.inbound(external, dst);
        if (!internal) {
          dropped++;
          return;
        }
        route(realm, external, internal, bytes, hops + 1);
        return;
      }
      route(realm.parent, external, dst, bytes, hops + 1);
      return;
    }
    dropped++;
  };

  return {
    internet,
    nat(spec, outside = internet) {
      const inside: Realm = { parent: outside, hosts: new Set(), sockets: new Map() };
      const nat = new FakeNat(spec, inside, outside, random);
      inside.nat = nat;
      nats.push(nat);
      return inside;
    },
    host(ip, realm = internet) {
      realm.hosts.add(ip);
      let nextPort = 40000;
      const udp: UdpNetwork = {
        async bind(bindOptions = {}) {
          const port = bindOptions.port || nextPort++;
          const id = `${ip}:${port}`;
          if (realm.sockets.has(id)) throw new Error(`port ${id} in use`);
          const handlers = new Set<DatagramHandler>();
          realm.sockets.set(id, handlers);
          const socket: UdpSocket = {
            localAddress: () => ({ host: ip, port }),
            send(to, bytes) {
              sent++;
              const copy = bytes.slice();
              clock.setTimer(latency, () => route(realm, { host: ip, port }, to, copy));
            },
            onMessage(handler) {
              handlers.add(handler);
              return () => handlers.delete(handler);
            },
            async close() {
              realm.sockets.delete(id);
            },
          };
          return socket;
        },
      };
      return { ip, udp };
    },
    stats: () => ({ sent, delivered, dropped }),
  };
}
