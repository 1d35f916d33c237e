import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  type Agent,
  type AgentConfigInput,
  createAgent,
  createMemoryStorage,
  type FetchOptions,
  type FetchSummary,
  parseAgentConfig,
  staticDeviceState,
} from '../../../agent/index.ts';
import {
  createCdn,
  createEdgeServer,
  createManifestRegistry,
  createMemoryPieceCache,
  createPieceProvider,
  createStoreOrigin,
  type EdgeServer,
} from '../../../edge/index.ts';
import {
  type AddGatewayOptions,
  createSimulation,
  type SimGateway,
  type SimHost,
  type Simulation,
} from '../../../lab/sim/index.ts';
import { createTrustedKeys, loadPublicKey, type ObjectStore, StoreError } from '../../../release/index.ts';
import { createSilentLogger, type Logger } from '../../../runtime/index.ts';
import { buildTracker, createMemorySwarmStore, createRendezvousServer } from '../../../tracker/index.ts';
import { createStoreCatalogue } from '../../../tracker/store-catalogue.ts';
import type { SwarmStore } from '../../../tracker/swarm-store.ts';
import { createEndpoint, publicKeyOf } from '../../../transport/index.ts';
import type { PublishedFixture } from '../fixture-release.ts';

export interface SimDevice {
  name: string;
  host: SimHost;
  agent: Agent;
  state: ReturnType<typeof staticDeviceState>;
  gateway?: SimGateway;
  summary?: FetchSummary;
  storage: ReturnType<typeof createMemoryStorage>;
  error?: unknown;
  done: boolean;
}

export interface SimWorld {
  sim: Simulation;
  devices: SimDevice[];
  cdnBilling(): { totalBytes: number; objectBytes: number };
  /** Starts every device's fetch (seeding after completion) at `staggerMs` intervals. */
  startAll(staggerMs?: number): void;
  /** Starts device `i`'s fetch (seeding after completion) `atMs` from now. */
  startDevice(i: number, atMs: number, options?: FetchOptions): void;
  trackerHost: SimHost;
  cdnHost: SimHost;
  edge: EdgeServer | undefined;
  /** The tracker's store (undefined when the tracker is down). */
  swarmStore: SwarmStore | undefined;
}

/**
 * One ISP of devices on the simulated network with the real tracker (fastify app, memory store, store
 * catalogue) and the real lab CDN (edge/), all in virtual time.
 */
export async function buildWorld(options: {
  fixture: PublishedFixture;
  devices: number;
  seed?: number;
  deviceDownBps?: number;
  /** One-way delay of each device's link, each direction (default 10 ms). */
  deviceDelayMs?: number;
  deviceUpBps?: number;
  cdnRateBps?: number;
  policy?: AgentConfigInput['policy'];
  trackerUp?: boolean;
  logger?: Logger;
  /** Run one edge (pinned in every device's config) with this egress cap, bytes/s (0 = unlimited). */
  edge?: { capacityBytesPerSecond?: number };
  /** Put these devices behind their own home NAT gateway (default: public hosts on the ISP). */
  natted?: (index: number) => boolean;
  /** Gateway options for natted devices (NAT preset, port-mapping servers). */
  gatewayFor?: (index: number) => Partial<AddGatewayOptions>;
  /** Run the tracker's rendezvous/STUN UDP endpoint (devices get it in their config). */
  rendezvous?: boolean;
  /** Replace some devices' configs (e.g. a different CDN list). */
  configFor?: (index: number, base: AgentConfigInput) => AgentConfigInput;
}): Promise<SimWorld> {
  const logger = options.logger ?? createSilentLogger();
  const sim = createSimulation({ seed: options.seed ?? 1 });
  const region = sim.addRegion({ name: 'eu' });
  const isp = sim.addIsp({ name: 'isp-a', region });
  const trackerHost = sim.addServer({ name: 'tracker', region });
  // A CDN egress cap is modelled as the CDN host's link: a token bucket inside the fastify app would
  // hold the simulation's HTTP inject open across virtual time.
  const cdnHost = sim.addServer({
    name: 'cdn',
    region,
    ...(options.cdnRateBps ? { link: { bandwidthBps: options.cdnRateBps * 8, delayMs: 1 } } : {}),
  });
  const store = memoryStoreFrom(options.fixture.dir);
  const trusted = createTrustedKeys([loadPublicKey(options.fixture.pubPath)], 1);
  const cdn = createCdn({ cacheBytes: 64 * 1024 * 1024 }, { store, clock: sim.clock, logger });
  sim.serveHttp(cdnHost, 80, cdn.app);
  let rendezvousSpec: string | undefined;
  let swarmStore: SwarmStore | undefined;
  if (options.trackerUp !== false) {
    const trackerRandom = sim.random('tracker');
    swarmStore = createMemorySwarmStore({ random: trackerRandom, now: () => sim.clock.now() });
    if (options.rendezvous) {
      const key = trackerHost.random.bytes(32);
      const endpoint = createEndpoint(
        { staticPrivateKey: key },
        {
          socket: await sim.settle(trackerHost.udp.bind({ port: 7001 })),
          clock: sim.clock,
          random: trackerHost.random,
          logger,
        },
      );
      createRendezvousServer(
        { advertised: { host: trackerHost.address, port: 7001 } },
        { endpoint, swarmStore, clock: sim.clock, random: trackerHost.random, logger },
      );
      rendezvousSpec = `${trackerHost.address}:7001@${Buffer.from(publicKeyOf(key)).toString('base64')}`;
    }
    const tracker = buildTracker(
      { cdnBaseUrls: ['http://cdn'], rateLimit: null, youngIntervalSec: 10, minIntervalSec: 1 },
      {
        clock: sim.clock,
        random: trackerRandom,
        logger,
        swarmStore,
        catalogue: createStoreCatalogue({ refreshMs: 30_000, trusted }, { store, clock: sim.clock, logger }),
      },
    );
    sim.serveHttp(trackerHost, 80, tracker.app);
  }
  let edge: EdgeServer | undefined;
  let edgeSpec: string | undefined;
  if (options.edge) {
    const edgeHost = sim.addServer({ name: 'edge', region });
    const origin = createStoreOrigin(store);
    const server = createEdgeServer(
      {
        id: 'edge-1',
        region: 'eu',
        staticPrivateKey: edgeHost.random.bytes(32),
        ...(options.edge.capacityBytesPerSecond
          ? { capacityBytesPerSecond: options.edge.capacityBytesPerSecond }
          : {}),
        advertiseAddress: { host: edgeHost.address, port: 7000 },
      },
      {
        socket: await sim.settle(edgeHost.udp.bind({ port: 7000 })),
        clock: sim.clock,
        random: edgeHost.random,
        logger,
        pieces: createPieceProvider(
          { memoryBytes: 0 },
          {
            manifests: createManifestRegistry({}, { origin, clock: sim.clock }),
            cache: createMemoryPieceCache({ capacityBytes: 256 * 1024 * 1024 }),
            origin,
          },
        ),
      },
    );
    edge = server;
    edgeSpec = `${edgeHost.address}:7000@${Buffer.from(server.publicKey).toString('base64')}`;
  }
  const root = mkdtempSync(join(tmpdir(), 'sl-sim-'));
  const devices: SimDevice[] = [];
  for (let i = 0; i < options.devices; i++) {
    const gateway = options.natted?.(i)
      ? sim.addGateway({ name: `gw-${i}`, isp, behindCgn: false, ...options.gatewayFor?.(i) })
      : undefined;
    const host = sim.addHost({
      name: `dev-${i}`,
      ...(gateway ? { gateway } : { isp, behindCgn: false }),
      link: {
        bandwidthBps: options.deviceDownBps ?? 20_000_000,
        delayMs: options.deviceDelayMs ?? 10,
        up: { bandwidthBps: options.deviceUpBps ?? 10_000_000, delayMs: options.deviceDelayMs ?? 10 },
      },
    });
    const base: AgentConfigInput = {
      trust: { keys: [options.fixture.pubPath] },
      tracker: 'http://tracker',
      cdn: ['http://cdn'],
      ...(edgeSpec ? { edges: [edgeSpec] } : {}),
      stateDir: join(root, `dev-${i}`),
      follow: [{ product: 'fw' }],
      policy: { stallTimeoutSeconds: 0, ...options.policy },
      ...(rendezvousSpec ? { network: { rendezvous: rendezvousSpec } } : {}),
    };
    const config = parseAgentConfig(options.configFor ? options.configFor(i, base) : base);
    const state = staticDeviceState();
    const storage = createMemoryStorage();
    const agent = createAgent(config, {
      clock: sim.clock,
      random: host.random,
      logger: logger.child({ device: i }),
      http: host.http,
      udp: host.udp,
      trusted,
      deviceState: state,
      storage,
      ...(gateway ? { portMapGateway: { gateway: gateway.lanAddress, internalHost: host.address } } : {}),
    });
    devices.push({
      name: `dev-${i}`,
      host,
      agent,
      state,
      storage,
      done: false,
      ...(gateway ? { gateway } : {}),
    });
  }
  const startDevice = (i: number, atMs: number, fetchOptions: FetchOptions = {}): void => {
    const d = devices[i]!;
    sim.clock.setTimer(atMs, () => {
      d.agent.fetch({ product: 'fw', channel: 'stable' }, { seed: true, ...fetchOptions }).then(
        (summary) => {
          d.summary = summary;
          d.done = true;
        },
        (error: unknown) => {
          d.error = error;
          d.done = true;
        },
      );
    });
  };
  return {
    sim,
    devices,
    trackerHost,
    cdnHost,
    edge,
    swarmStore,
    cdnBilling() {
      const report = cdn.billing();
      return {
        totalBytes: report.totalBytes,
        objectBytes: report.keys[options.fixture.manifest.object]?.bytes ?? 0,
      };
    },
    startAll(staggerMs = 0) {
      // Agents do real file I/O (state dir) between virtual timers; a heartbeat keeps the simulation
      // from declaring itself quiescent while that I/O is in flight.
      const beat = (): void => {
        if (!devices.every((d) => d.done)) sim.clock.setTimer(50, beat);
      };
      beat();
      for (let i = 0; i < devices.length; i++) startDevice(i, i * staggerMs);
    },
    startDevice,
  };
}

/**
 * The fixture's store, loaded into memory: the CDN and tracker then never wait on real file I/O, which
 * would let virtual time run on while a read is in flight.
 */
export function memoryStoreFrom(dir: string): ObjectStore {
  const objects = new Map<string, Uint8Array>();
  const walk = (sub: string): void => {
    for (const name of readdirSync(join(dir, sub))) {
      const rel = sub ? `${sub}/${name}` : name;
      if (statSync(join(dir, rel)).isDirectory()) walk(rel);
      else objects.set(rel, new Uint8Array(readFileSync(join(dir, rel))));
    }
  };
  walk('');
  const find = (key: string): Uint8Array => {
    const bytes = objects.get(key);
    if (!bytes) throw new StoreError('NOT_FOUND', `no such key ${key}`);
    return bytes;
  };
  return {
    url: `memory://${dir}`,
    async get(key, range) {
      const bytes = find(key);
      return range ? bytes.slice(range.start, range.end + 1) : bytes;
    },
    async getStream(key, range) {
      const bytes = find(key);
      return Readable.from([Buffer.from(range ? bytes.slice(range.start, range.end + 1) : bytes)]);
    },
    async head(key) {
      const bytes = objects.get(key);
      return bytes ? { size: bytes.length } : null;
    },
    async put(key, body) {
      if (body instanceof Uint8Array) objects.set(key, body);
      else {
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
        objects.set(key, new Uint8Array(Buffer.concat(chunks)));
      }
    },
    async list(prefix) {
      return [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
  };
}

/**
 * Fetch options that record when the download opened (manifest verified) and when its first piece
 * from a peer arrived, on the world's clock (-1 until then).
 */
export function watchFirstPeerPiece(world: SimWorld): {
  at: { jobOpen: number; firstPeerPiece: number };
  options: FetchOptions;
} {
  const at = { jobOpen: -1, firstPeerPiece: -1 };
  return {
    at,
    options: {
      onJob: (job) => {
        at.jobOpen = world.sim.clock.now();
        job.engine.on((event) => {
          if (event.type === 'piece' && event.sourceClass.startsWith('peer') && at.firstPeerPiece < 0)
            at.firstPeerPiece = world.sim.clock.now();
        });
      },
    },
  };
}
