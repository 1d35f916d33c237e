import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { staticDeviceState } from '../../agent/device-state.ts';
import {
  type Agent,
  createAgent,
  createMemoryStorage,
  type FetchSummary,
  parseAgentConfig,
} from '../../agent/index.ts';
import { createCdn, createEdgeNode, createMemoryPieceCache, type EdgeNode } from '../../edge/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { createNodeLogger } from '../../runtime/node/index.ts';
import {
  buildTracker,
  createMemorySwarmStore,
  createPrefixTable,
  createRendezvousServer,
  type RendezvousServer,
} from '../../tracker/index.ts';
import { createStoreCatalogue } from '../../tracker/store-catalogue.ts';
import { createEndpoint, publicKeyOf } from '../../transport/index.ts';
import { type StrategyName, UNRESOLVED_PEER } from '../report/results.ts';
import type { Scenario } from '../scenario/schema.ts';
import { createSimulation, type InjectableApp, type Simulation } from '../sim/index.ts';
import { loadMemoryStore } from './memory-store.ts';
import { LAB_CHANNEL, LAB_PRODUCT, type LabRelease } from './release.ts';
import { buildTopology, type LabDevice, type LabTopology } from './topology.ts';

/** What one device did in a run, from its own agent's counters. */
export interface DeviceOutcome {
  device: LabDevice;
  summary: FetchSummary | undefined;
  error: string | undefined;
  /** Virtual seconds from arrival to verified completion. */
  completionSeconds: number | undefined;
  uploaded: number;
}

export interface StrategyRun {
  strategy: StrategyName;
  sim: Simulation;
  topology: LabTopology;
  outcomes: DeviceOutcome[];
  cdnBytes: number;
  /** Bytes edges sent to devices, and bytes they pulled from the origin. */
  edgeBytes: number;
  originBytes: number;
  /** UDP payload bytes the network delivered from device to device, within one ISP and across ISPs. */
  peerWire: { sameIsp: number; otherIsp: number };
  /** (virtual seconds since start, bytes) samples of infrastructure egress. */
  infraSamples: Array<{ t: number; bytes: number }>;
  /**
   * Device pairs that exchanged or tried to exchange datagrams, by NAT class of the one that sent
   * first (`from`) and the other (`to`, or UNRESOLVED_PEER for datagrams to addresses no device holds), and
   * how the pair got through when datagrams arrived both ways (`how` undefined: it did not).
   */
  connections: ConnectionRecord[];
  endSeconds: number;
}

export interface ConnectionRecord {
  from: string;
  to: string;
  how: string | undefined;
}

export interface StrategyProgress {
  strategy: StrategyName;
  completed: number;
  devices: number;
  simSeconds: number;
}

const EDGE_PORT = 4433;
/** The tracker's rendezvous + STUN UDP port (swarmlane only: a stock tracker has none). */
const RENDEZVOUS_PORT = 3478;

/**
 * Runs one strategy of a scenario on a fresh simulated network: the real tracker, CDN, edges and
 * agents, in virtual time. `swarmlane` uses everything; `client-server` gives devices only the CDN;
 * `plain-bittorrent` gives them the tracker with random peer choice and the CDN as a web seed, no
 * edges, no NAT traversal, no locality.
 */
export async function runStrategy(
  scenario: Scenario,
  strategy: StrategyName,
  release: LabRelease,
  workDir: string,
  onProgress: (p: StrategyProgress) => void,
): Promise<StrategyRun> {
  // No packet trace: the lab reports counters, and hashing every packet event costs about 1.5 % of a
  // large run's CPU.
  const sim = createSimulation({ seed: scenario.seed, trace: false });
  // Everything in the virtual-time run lives in memory (origin, edge caches, devices' files): real
  // disk I/O finishes in wall-clock order and would make a seed's figures vary from run to run.
  const store = await loadMemoryStore(release.store);
  const topology = buildTopology(sim, scenario);
  const logger = createSilentLogger();
  const start = sim.now();
  const dir = join(workDir, strategy);
  mkdirSync(dir, { recursive: true });

  // --- operator infrastructure -------------------------------------------------------------------
  const cdnHost = topology.servers.cdn;
  const cdn = createCdn({}, { store, clock: sim.clock, logger });
  sim.serveHttp(cdnHost, 80, cdn.app as unknown as InjectableApp);
  // Infrastructure egress summed per 100 ms of virtual time (the report bins by 5 s): one sample per
  // delivered packet was a million objects at 1,000 devices.
  const infraSamples: Array<{ t: number; bytes: number }> = [];
  let sampleTenth = -1;
  const infraNodes = new Set([cdnHost.node, ...topology.servers.edges.map((e) => e.node)]);
  // Device-to-device bytes by ISP as the network delivered them: ground truth for locality, whatever
  // the agents believed about their peers' ISPs (the plain baseline's tracker knows no ISPs at all).
  const deviceNodes = new Set(topology.devices.map((d) => d.host.node));
  const peerWire = { sameIsp: 0, otherIsp: 0 };
  sim.onDeliver((event) => {
    if (infraNodes.has(event.from) && !infraNodes.has(event.to)) {
      const tenth = Math.floor((sim.now() - start) / 100);
      if (tenth === sampleTenth) infraSamples[infraSamples.length - 1]!.bytes += event.bytes;
      else {
        sampleTenth = tenth;
        infraSamples.push({ t: tenth / 10, bytes: event.bytes });
      }
    }
    // A device reaching itself (its own public address, hairpinned back) is not peer traffic.
    else if (event.from !== event.to && deviceNodes.has(event.from) && deviceNodes.has(event.to)) {
      if (event.from.ispIndex === event.to.ispIndex) peerWire.sameIsp += event.bytes;
      else peerWire.otherIsp += event.bytes;
    }
  });

  const useTracker = strategy !== 'client-server';
  const useEdges = strategy === 'swarmlane' && scenario.edges.length > 0;
  let rendezvous: RendezvousServer | undefined;
  /** HOST:PORT@KEY for the agents: the simulated UDP stack has no DNS, so the address, not "tracker". */
  let rendezvousSpec: string | undefined;
  if (useTracker) {
    const trackerHost = topology.servers.tracker;
    const random = trackerHost.random;
    const swarmStore = createMemorySwarmStore({ random, now: () => sim.clock.now() });
    const prefixes = createPrefixTable(
      scenario.isps.flatMap((isp) => {
        // The simulation's address plan gives ISP i the public /16 at (60 + i/256).(i % 256).
        const index = topology.isps.get(isp.name)!.index;
        const cidr = `${60 + Math.floor(index / 256)}.${index % 256}.0.0/16`;
        return [{ cidr, asn: isp.asn, isp: isp.name, region: isp.region }];
      }),
    );
    // swarmlane's tracker runs its rendezvous + STUN endpoint (as `swarmlane tracker --udp` does):
    // without it agents get no hole punching and, with no edges, no STUN server to probe their NAT.
    let rendezvousInfo: { port: number; publicKey: string } | null = null;
    if (strategy === 'swarmlane') {
      const socket = await trackerHost.udp.bind({ port: RENDEZVOUS_PORT });
      const privateKey = random.bytes(32);
      const endpoint = createEndpoint(
        { staticPrivateKey: privateKey },
        { socket, clock: sim.clock, random, logger },
      );
      rendezvous = createRendezvousServer(
        { advertised: { host: trackerHost.address, port: RENDEZVOUS_PORT }, prefixes },
        { endpoint, swarmStore, clock: sim.clock, random, logger },
      );
      rendezvousSpec = `${trackerHost.address}:${RENDEZVOUS_PORT}@${Buffer.from(publicKeyOf(privateKey)).toString('base64')}`;
      rendezvousInfo = {
        port: RENDEZVOUS_PORT,
        publicKey: Buffer.from(publicKeyOf(privateKey)).toString('base64'),
      };
    }
    const app = buildTracker(
      {
        cdnBaseUrls: ['http://cdn'],
        rendezvous: rendezvousInfo,
        prefixes: strategy === 'swarmlane' ? prefixes : null,
        rateLimit: null,
        selection: { bridgeEvery: 20, maxBridges: 3, oversample: 2 },
        ...(strategy === 'plain-bittorrent' ? { selectionMode: 'random' as const } : {}),
      },
      {
        clock: sim.clock,
        random,
        logger,
        swarmStore,
        catalogue: createStoreCatalogue(
          { trusted: release.trusted, refreshMs: 30_000 },
          { store, clock: sim.clock, logger },
        ),
      },
    );
    sim.serveHttp(trackerHost, 80, app.app as unknown as InjectableApp);
  }

  const edges: EdgeNode[] = [];
  const edgeSpecs: string[] = [];
  if (useEdges) {
    for (const [i, host] of topology.servers.edges.entries()) {
      const key = host.random.bytes(32);
      const node = await createEdgeNode(
        {
          id: `edge-${i}`,
          region: scenario.edges[i]!.region,
          staticPrivateKey: key,
          listen: { host: host.address, port: EDGE_PORT },
          store,
          cacheDir: join(dir, `edge-${i}`),
          cacheBytes: 4 * scenario.release.size,
          // No disk in virtual time: real I/O would make event order depend on the wall clock.
          cache: createMemoryPieceCache({ capacityBytes: 4 * scenario.release.size }),
          trusted: release.trusted,
          trackerUrl: 'http://tracker',
          capacityBytesPerSecond: (scenario.edges[i]!.capacityMbps * 1e6) / 8,
        },
        { udp: host.udp, http: host.http, clock: sim.clock, random: host.random, logger },
      );
      node.start();
      edges.push(node);
      edgeSpecs.push(`${host.address}:${EDGE_PORT}@${Buffer.from(node.server.publicKey).toString('base64')}`);
    }
  }

  // --- devices -----------------------------------------------------------------------------------
  const outcomes: DeviceOutcome[] = topology.devices.map((device) => ({
    device,
    summary: undefined,
    error: undefined,
    completionSeconds: undefined,
    uploaded: 0,
  }));
  const agents: Agent[] = [];
  let finished = 0;
  const report = () =>
    onProgress({
      strategy,
      completed: finished,
      devices: outcomes.length,
      simSeconds: (sim.now() - start) / 1000,
    });

  for (const outcome of outcomes) {
    const { device } = outcome;
    const stateDir = join(dir, device.name);
    const config = parseAgentConfig(
      {
        deviceId: `lab-${strategy}-${device.name}`,
        trust: { keys: ['lab'] },
        ...(useTracker ? { tracker: 'http://tracker' } : {}),
        ...(useEdges ? { edges: edgeSpecs } : {}),
        cdn: ['http://cdn'],
        stateDir,
        network: {
          udpPort: device.listenPort,
          isp: device.isp.name,
          region: device.isp.region,
          peerCongestion: device.group.peerCongestion,
          // The plain-BitTorrent baseline has no NAT traversal: no STUN, no port mapping, no punching.
          ...(strategy === 'plain-bittorrent' ? { traversal: false, portMapping: false } : {}),
          ...(rendezvousSpec ? { rendezvous: rendezvousSpec } : {}),
        },
        policy: {
          seedRatio: scenario.policies.seedRatio,
          seedSeconds: scenario.policies.seedSeconds,
          wifiOnly: scenario.policies.uploadOnlyOnWifiAndPower,
          powerOnly: scenario.policies.uploadOnlyOnWifiAndPower,
          infrastructureShareCap: scenario.policies.infrastructureShareCap,
          // A stock client uses the CDN as a BEP 19 web seed, one source among the peers, with no
          // flash-crowd gate holding it back.
          ...(strategy === 'plain-bittorrent' ? { infrastructure: 'web-seed' as const } : {}),
        },
      },
      dir,
    );
    const env = device.host.env();
    // The gateway the agent asks for a port mapping, as the CLI reads it from the routing table: the
    // home router, or the carrier's NAT for a device directly behind a CGN (PCP where it runs one).
    const parent = device.host.node.parent;
    const gatewayAddress =
      device.gateway?.lanAddress ?? (parent?.kind === 'cgn' ? parent.lanAddress : undefined);
    // SWARMLANE_LAB_LOG=d4,d7 logs those devices' agents to stderr (debugging a lab run).
    const traced = (process.env.SWARMLANE_LAB_LOG ?? '').split(',').includes(device.name);
    const agent = createAgent(config, {
      clock: sim.clock,
      random: device.host.random,
      logger: traced ? createNodeLogger({ level: 'debug' }).child({ device: device.name, strategy }) : logger,
      http: env.http,
      ...(useTracker ? { udp: env.udp } : {}),
      portMapGateway: gatewayAddress ? { gateway: gatewayAddress, internalHost: device.host.address } : null,
      trusted: release.trusted,
      storage: createMemoryStorage(),
      deviceState: staticDeviceState({ wifi: device.group.wifi, power: device.group.charging }),
    });
    agents.push(agent);
    sim.clock.setTimer(device.arrivalMs, () => {
      agent
        .fetch({ product: LAB_PRODUCT, channel: LAB_CHANNEL }, { seed: true })
        .then(
          (summary) => {
            outcome.summary = summary;
            // The agent's own clock reading when its last piece was verified and written: fetch() resolves
            // later, after its report to the tracker (a round trip that is bookkeeping, not the
            // device waiting for its update: 0.27 s median on a us-mobile link at 300 devices).
            outcome.completionSeconds = summary.completionMs / 1000;
          },
          (error: unknown) => {
            outcome.error = error instanceof Error ? error.message : String(error);
            if (process.env.SWARMLANE_LAB_DEBUG) console.error(device.name, strategy, error);
          },
        )
        .finally(() => {
          finished++;
          report();
        });
    });
  }

  const deadlineMs = scenario.deadlineSeconds * 1000;
  let lastReport = 0;
  await sim.run({
    deadlineMs,
    until: () => {
      if (sim.now() - lastReport > 5000) {
        lastReport = sim.now();
        report();
      }
      return finished === outcomes.length;
    },
  });
  const endSeconds = (sim.now() - start) / 1000;
  for (const [i, agent] of agents.entries()) outcomes[i]!.uploaded = agent.uploaded();
  await Promise.all(agents.map((a) => sim.settle(a.stop('lab run over')).catch(() => undefined)));
  for (const edge of edges) await sim.settle(edge.close()).catch(() => undefined);
  rendezvous?.close();

  const billing = cdn.billing();
  const edgeStats = edges.map((e) => e.server.stats());
  return {
    strategy,
    sim,
    topology,
    outcomes,
    cdnBytes: billing.totalBytes,
    edgeBytes: edgeStats.reduce((n, s) => n + s.bytesSent, 0),
    originBytes: edges.reduce((n, e) => n + e.pieces.stats().originBytes, 0),
    infraSamples,
    peerWire,
    connections: connectionRecords(sim, topology),
    endSeconds,
  };
}

/** The network's device-to-device contacts, labelled with the NAT classes of the devices. */
function connectionRecords(sim: Simulation, topology: LabTopology): ConnectionRecord[] {
  const classOf = new Map(topology.devices.map((d) => [d.host.node, d.natClass]));
  const records: ConnectionRecord[] = [];
  const table = sim.contacts();
  for (const c of table.contacts()) {
    const from = classOf.get(c.initiator);
    const to = classOf.get(c.other);
    if (from === undefined || to === undefined) continue;
    const both = c.forward > 0 && c.backward > 0;
    records.push({ from, to, how: both ? c.how : undefined });
  }
  for (const u of table.unresolvedContacts()) {
    const from = classOf.get(u.from);
    if (from === undefined) continue;
    for (let i = 0; i < u.targets; i++) records.push({ from, to: UNRESOLVED_PEER, how: undefined });
  }
  return records;
}
