import {
  type Clock,
  createSilentLogger,
  type Env,
  type HttpClient,
  type Logger,
  type Random,
  type UdpNetwork,
} from '../../runtime/index.ts';
import type { ContactTable } from './contacts.ts';
import type { HostCounters, LinkCounters } from './counters.ts';
import { FlowScheduler } from './flows.ts';
import { HttpChannel, type HttpServerApp } from './http.ts';
import { AddressPool } from './ip.ts';
import { LinkDirection, type LinkOptions, splitLink } from './link.ts';
import { Nat, type NatOptions } from './nat.ts';
import { type DeliveryEvent, Network, type NetworkTotals } from './network.ts';
import { type NodeKind, type NodeMeta, Realm, SimNode } from './node.ts';
import { attachPortMapping, type PortMappingOptions, type PortMappingServers } from './portmap/index.ts';
import { DEFAULT_START_TIME, type RunOptions, type RunResult, Scheduler } from './scheduler.ts';
import { derivedRandom } from './seed.ts';
import { TraceHash } from './trace.ts';

export interface SimulationOptions {
  /** Seeds every random stream (loss, jitter, NAT ports, host randomness). Default 1. */
  seed?: number;
  /** Virtual clock start, ms since the Unix epoch. Default 2026-01-01T00:00:00Z. */
  startTime?: number;
  /** Keep a SHA-256 trace of packet events (cheap). Default true. */
  trace?: boolean;
  /**
   * Event-loop turns held work (a fastify inject) may take before time moves on anyway. Default
   * 100,000. A count, not milliseconds, so a loaded machine cannot change a seed's results.
   */
  holdGuardTurns?: number;
  /**
   * How promise work is settled after each virtual instant: 'sync' (default) drains the nextTick and
   * microtask queues synchronously and only yields to the event loop when real work (file I/O, a
   * setImmediate) is pending; 'turn' pays one event-loop turn per instant (slower, lets other real
   * async work such as sockets progress between instants).
   */
  drain?: 'sync' | 'turn';
  /** Logger handed to hosts' envs; default silent. */
  logger?: Logger;
}

export interface SimRegion {
  readonly name: string;
  readonly node: SimNode;
}

export interface SimIsp {
  readonly name: string;
  readonly index: number;
  readonly region: SimRegion;
  readonly node: SimNode;
  /** Present when the ISP runs a carrier-grade NAT. */
  readonly cgn?: { readonly node: SimNode; readonly nat: Nat; readonly pool: readonly string[] };
}

export interface SimGateway {
  readonly name: string;
  readonly node: SimNode;
  readonly isp: SimIsp;
  /** Address on the ISP side: public, or 100.64/10 when behind the ISP's CGN. */
  readonly wanAddress: string;
  readonly lanAddress: string;
  readonly nat: Nat;
  readonly portMapping: PortMappingServers;
}

/** A device or server: what a lab hands to the components running on it. */
export interface SimHost {
  readonly name: string;
  readonly kind: 'host' | 'server';
  readonly node: SimNode;
  /** The host's own address (private when behind a NAT). */
  readonly address: string;
  readonly gateway?: SimGateway;
  readonly isp?: SimIsp;
  readonly udp: UdpNetwork;
  readonly http: HttpClient;
  /** A seeded stream of its own, so adding hosts does not perturb others. */
  readonly random: Random;
  readonly counters: HostCounters;
  readonly meta: NodeMeta;
  /** A runtime Env for components on this host. */
  env(overrides?: Partial<Env>): Env;
}

export interface AddRegionOptions {
  name: string;
  /** Region <-> internet core; default 20 ms each way, unlimited bandwidth. */
  link?: LinkOptions;
}

export interface AddIspOptions {
  name: string;
  region: SimRegion;
  /** ISP <-> region; default 5 ms each way, unlimited bandwidth. */
  link?: LinkOptions;
  /** Run a CGN (NAT444): subscribers behind it get 100.64/10 addresses. */
  cgn?: NatOptions & { poolSize?: number } & Pick<PortMappingOptions, 'pcp'>;
}

export interface AddGatewayOptions {
  name?: string;
  isp: SimIsp;
  /** Access link gateway <-> ISP; default profiles.broadband(). */
  link?: LinkOptions;
  /** NAT behaviour; default port-restricted cone (EIM + APDF), hairpinning on. */
  nat?: NatOptions;
  /** Sit behind the ISP's CGN (default: yes when the ISP has one). */
  behindCgn?: boolean;
  /** Port-mapping servers on the LAN side: UPnP IGD, NAT-PMP, PCP. Default none. */
  portMapping?: PortMappingOptions;
  /** LAN /24 prefix; default '192.168.1'. */
  lanPrefix?: string;
  meta?: NodeMeta;
}

export interface AddHostOptions {
  name?: string;
  /** Put the host in this gateway's LAN ... */
  gateway?: SimGateway;
  /** ... or directly on an ISP (mobile: behind its CGN if it has one, unless behindCgn: false) ... */
  isp?: SimIsp;
  /** ... or directly in a region (a public server). */
  region?: SimRegion;
  behindCgn?: boolean;
  /** Link to the parent; default: instant on a LAN, broadband on an ISP, datacenter in a region. */
  link?: LinkOptions;
  /** Explicit address (must be unused in its realm). */
  address?: string;
  meta?: NodeMeta;
}

export interface SimStats extends NetworkTotals {
  events: number;
  now: number;
  /** Bytes (UDP payload + HTTP) between ISPs: `${fromIsp}>${toIsp}` ('-' = no ISP, e.g. servers). */
  ispBytes: Record<string, number>;
}

export interface Simulation {
  readonly seed: number;
  readonly clock: Clock;
  readonly internet: SimNode;
  now(): number;
  /** Runs virtual time: until the condition holds, the deadline passes, or nothing is left to do. */
  run(options?: RunOptions): Promise<RunResult>;
  /** Runs until `promise` settles and returns its value (throws its error). */
  settle<T>(promise: Promise<T>, options?: Omit<RunOptions, 'until'>): Promise<T>;
  /** Keeps virtual time still until `promise` settles (real work that takes no virtual time: file I/O). */
  hold<T>(promise: Promise<T>): Promise<T>;
  /** An independent deterministic stream for `label`. */
  random(label: string): Random;
  addRegion(options: AddRegionOptions): SimRegion;
  addIsp(options: AddIspOptions): SimIsp;
  addGateway(options: AddGatewayOptions): SimGateway;
  addHost(options: AddHostOptions): SimHost;
  /** A public server in a region (or an ISP); its name resolves in every host's HTTP client. */
  addServer(options: AddHostOptions & { name: string }): SimHost;
  /** Serves HTTP on `host`:`port` from a fastify instance (driven by inject) or a plain handler. */
  serveHttp(
    host: SimHost | SimNode,
    port: number,
    app: HttpServerApp,
    options?: { lan?: boolean },
  ): () => void;
  /**
   * Takes the link between a node and its parent down (both directions) or back up: every packet
   * offered meanwhile is dropped as 'link-down' and new HTTP requests over it time out. Use it for
   * Wi-Fi loss, a pulled cable, or a mobile disconnect; NAT state survives (see `nat.flush()`).
   */
  setLinkUp(target: SimHost | SimGateway | SimNode, up: boolean): void;
  /** Maps a host name to an address for HTTP URLs. */
  setDns(name: string, address: string): void;
  hosts(): SimHost[];
  gateways(): SimGateway[];
  isps(): SimIsp[];
  links(): Array<{ name: string; counters: LinkCounters; link: LinkDirection }>;
  stats(): SimStats;
  /** SHA-256 over every packet event so far. */
  traceHash(): string;
  /** Device-to-device UDP contacts the network saw: attempted, delivered each way, and how. */
  contacts(): ContactTable;
  onDeliver(observer: (e: DeliveryEvent) => void): () => void;
}

/** Builds an empty simulated internet; see index.ts for the tour. */
export function createSimulation(options: SimulationOptions = {}): Simulation {
  const seed = options.seed ?? 1;
  const scheduler = new Scheduler(
    options.startTime ?? DEFAULT_START_TIME,
    options.holdGuardTurns,
    options.drain,
  );
  const trace = options.trace === false ? undefined : new TraceHash();
  const network = new Network(scheduler, trace);
  const flows = new FlowScheduler(scheduler);
  const logger = options.logger ?? createSilentLogger();
  const nodes: SimNode[] = [];
  const allLinks: LinkDirection[] = [];
  const hostList: SimHost[] = [];
  const gatewayList: SimGateway[] = [];
  const ispList: SimIsp[] = [];
  const regionServers = new Map<SimNode, AddressPool>();
  const ispPublic = new Map<SimNode, AddressPool>();
  const cgnInside = new Map<SimNode, AddressPool>();
  const lanPools = new Map<SimNode, AddressPool>();
  const names = new Set<string>();

  const core = new SimNode(0, 'internet', 'core', undefined, {});
  nodes.push(core);
  const internet = new Realm('internet', core);
  core.realm = internet;
  const corePool = new AddressPool('45.255.0.1', '45.255.255.254', 'core servers');

  const http = new HttpChannel(scheduler, flows, network, trace);

  const nameCounters = new Map<string, number>();
  function uniqueName(base: string): string {
    if (!names.has(base)) {
      names.add(base);
      return base;
    }
    for (let i = nameCounters.get(base) ?? 2; ; i++) {
      const candidate = `${base}-${i}`;
      if (!names.has(candidate)) {
        names.add(candidate);
        nameCounters.set(base, i + 1);
        return candidate;
      }
    }
  }

  function makeNode(
    name: string,
    kind: NodeKind,
    parent: SimNode,
    link: LinkOptions,
    meta: NodeMeta,
  ): SimNode {
    const node = new SimNode(nodes.length, uniqueName(name), kind, parent, meta);
    nodes.push(node);
    const { up, down } = splitLink(link);
    node.up = new LinkDirection(
      `${node.name}->${parent.name}`,
      up,
      derivedRandom(seed, `link:${node.id}:up`),
    );
    node.down = new LinkDirection(
      `${parent.name}->${node.name}`,
      down,
      derivedRandom(seed, `link:${node.id}:down`),
    );
    allLinks.push(node.up, node.down);
    node.realm = parent.inner ?? parent.realm;
    node.ispIndex = parent.ispIndex;
    return node;
  }

  function assign(node: SimNode, address: string): void {
    if (node.realm.addresses.has(address)) {
      throw new RangeError(`address ${address} is already used in realm ${node.realm.name}`);
    }
    node.address = address;
    node.realm.addresses.set(address, node);
  }

  function poolFor(parent: SimNode): AddressPool {
    if (parent.kind === 'gateway') return lanPools.get(parent)!;
    if (parent.kind === 'cgn') return cgnInside.get(parent)!;
    if (parent.kind === 'isp') return ispPublic.get(parent)!;
    if (parent.kind === 'region') return regionServers.get(parent)!;
    return corePool;
  }

  function makeHost(kind: 'host' | 'server', o: AddHostOptions): SimHost {
    let parent: SimNode;
    let defaultLink: LinkOptions;
    let gateway: SimGateway | undefined;
    let isp: SimIsp | undefined;
    if (o.gateway !== undefined) {
      gateway = o.gateway;
      isp = gateway.isp;
      parent = gateway.node;
      defaultLink = {};
    } else if (o.isp !== undefined) {
      isp = o.isp;
      const behindCgn = o.behindCgn ?? isp.cgn !== undefined;
      if (behindCgn && isp.cgn === undefined) throw new RangeError(`ISP ${isp.name} has no CGN`);
      parent = behindCgn ? isp.cgn!.node : isp.node;
      defaultLink = { delayMs: 10, up: { bandwidthBps: 10e6 }, down: { bandwidthBps: 50e6 } };
    } else if (o.region !== undefined) {
      parent = o.region.node;
      defaultLink = { bandwidthBps: 1e9, delayMs: 1 };
    } else {
      parent = core;
      defaultLink = { bandwidthBps: 1e9, delayMs: 1 };
    }
    const meta: NodeMeta = {
      region: parent.meta.region,
      isp: isp?.name,
      gateway: gateway?.name,
      behindCgn: parent.kind === 'cgn' || gateway?.node.parent?.kind === 'cgn',
      ...o.meta,
    };
    const node = makeNode(o.name ?? kind, kind, parent, o.link ?? defaultLink, meta);
    assign(node, o.address ?? poolFor(parent).allocate());
    const random = derivedRandom(seed, `host:${node.name}`);
    const udp: UdpNetwork = {
      bind(bindOptions = {}) {
        const host = bindOptions.host;
        if (host !== undefined && host !== '0.0.0.0' && host !== node.address) {
          return Promise.reject(
            new Error(`${node.name} has no interface ${host} (its address is ${node.address})`),
          );
        }
        try {
          return Promise.resolve(network.bind(node, node.address, bindOptions.port ?? 0));
        } catch (error) {
          return Promise.reject(error);
        }
      },
    };
    const client = http.clientFor(node);
    const simHost: SimHost = {
      name: node.name,
      kind,
      node,
      address: node.address,
      gateway,
      isp,
      udp,
      http: client,
      random,
      counters: node.counters,
      meta,
      env(overrides = {}) {
        return {
          clock: scheduler.clock,
          udp,
          random,
          logger: logger.child({ host: node.name }),
          http: client,
          vars: {},
          ...overrides,
        };
      },
    };
    hostList.push(simHost);
    return simHost;
  }

  const sim: Simulation = {
    seed,
    clock: scheduler.clock,
    internet: core,
    now: () => scheduler.now,
    run: (runOptions) => scheduler.run(runOptions),
    settle: (promise, runOptions) => scheduler.settleOn(promise, runOptions),
    hold: (promise) => scheduler.hold(promise),
    random: (label) => derivedRandom(seed, `user:${label}`),

    addRegion(o) {
      const node = makeNode(o.name, 'region', core, o.link ?? { delayMs: 20 }, { region: o.name });
      const index = regionServers.size;
      regionServers.set(node, new AddressPool(`45.${index}.0.1`, `45.${index}.255.254`, `${o.name} servers`));
      return { name: node.name, node };
    },

    addIsp(o) {
      const index = ispList.length;
      const node = makeNode(o.name, 'isp', o.region.node, o.link ?? { delayMs: 5 }, {
        region: o.region.name,
        isp: o.name,
      });
      node.ispIndex = index;
      const prefix = `${60 + Math.floor(index / 256)}.${index % 256}`;
      ispPublic.set(node, new AddressPool(`${prefix}.1.1`, `${prefix}.239.254`, `${o.name} public`));
      let cgn: SimIsp['cgn'];
      if (o.cgn !== undefined) {
        const { poolSize, pcp, ...natOptions } = o.cgn;
        const cgnNode = makeNode(`${o.name}-cgn`, 'cgn', node, {}, { region: o.region.name, isp: o.name });
        const publicPool = new AddressPool(`${prefix}.240.1`, `${prefix}.255.254`, `${o.name} CGN pool`);
        const pool = Array.from({ length: poolSize ?? 1 }, () => publicPool.allocate());
        for (const ip of pool) internet.addresses.set(ip, cgnNode);
        const nat = new Nat(pool, natOptions, derivedRandom(seed, `nat:${cgnNode.id}`));
        cgnNode.nat = nat;
        cgnNode.inner = new Realm(`${o.name}-cgn`, cgnNode);
        cgnNode.lanAddress = '100.64.0.1';
        cgnNode.inner.addresses.set(cgnNode.lanAddress, cgnNode);
        cgnInside.set(cgnNode, new AddressPool('100.64.0.2', '100.127.255.254', `${o.name} CGN inside`));
        if (pcp) attachPortMapping(network, http, scheduler, cgnNode, nat, { pcp: true });
        cgn = { node: cgnNode, nat, pool };
      }
      const isp: SimIsp = { name: node.name, index, region: o.region, node, cgn };
      ispList.push(isp);
      return isp;
    },

    addGateway(o) {
      const behindCgn = o.behindCgn ?? o.isp.cgn !== undefined;
      if (behindCgn && o.isp.cgn === undefined) throw new RangeError(`ISP ${o.isp.name} has no CGN`);
      const parent = behindCgn ? o.isp.cgn!.node : o.isp.node;
      const meta: NodeMeta = { region: o.isp.region.name, isp: o.isp.name, behindCgn, ...o.meta };
      const link = o.link ?? { delayMs: 10, up: { bandwidthBps: 10e6 }, down: { bandwidthBps: 50e6 } };
      const node = makeNode(o.name ?? 'gateway', 'gateway', parent, link, meta);
      assign(node, poolFor(parent).allocate());
      const lanPrefix = o.lanPrefix ?? '192.168.1';
      node.inner = new Realm(`${node.name}-lan`, node);
      node.lanAddress = `${lanPrefix}.1`;
      node.inner.addresses.set(node.lanAddress, node);
      lanPools.set(node, new AddressPool(`${lanPrefix}.2`, `${lanPrefix}.254`, `${node.name} LAN`));
      const nat = new Nat([node.address], o.nat ?? {}, derivedRandom(seed, `nat:${node.id}`));
      node.nat = nat;
      const portMapping = attachPortMapping(network, http, scheduler, node, nat, o.portMapping ?? {});
      const gateway: SimGateway = {
        name: node.name,
        node,
        isp: o.isp,
        wanAddress: node.address,
        lanAddress: node.lanAddress,
        nat,
        portMapping,
      };
      gatewayList.push(gateway);
      return gateway;
    },

    addHost: (o) => makeHost('host', o),

    addServer(o) {
      const host = makeHost('server', o);
      http.setDns(o.name, host.address);
      return host;
    },

    serveHttp(host, port, app, serveOptions = {}) {
      const node = 'node' in host ? host.node : host;
      return http.serve(node, port, app, serveOptions.lan ?? false);
    },

    setLinkUp(target, up) {
      const node = 'node' in target ? target.node : target;
      if (node.up === undefined || node.down === undefined) throw new RangeError('the core has no uplink');
      node.up.down = !up;
      node.down.down = !up;
    },

    setDns: (name, address) => http.setDns(name, address),
    hosts: () => [...hostList],
    gateways: () => [...gatewayList],
    isps: () => [...ispList],
    links: () => allLinks.map((link) => ({ name: link.name, counters: link.counters, link })),

    stats() {
      const ispBytes: Record<string, number> = {};
      for (const [key, bytes] of network.ispMatrix) {
        const from = Math.floor(key / 65536);
        const to = key % 65536;
        const label = (i: number) => (i === 0xffff ? '-' : (ispList[i]?.name ?? String(i)));
        ispBytes[`${label(from)}>${label(to)}`] = bytes;
      }
      return { ...network.totals, events: scheduler.eventsFired, now: scheduler.now, ispBytes };
    },

    traceHash: () => trace?.digest() ?? '',
    contacts: () => network.contacts,
    onDeliver: (observer) => network.onDeliver(observer),
  };
  return sim;
}
