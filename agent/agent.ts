import { createHash } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { EdgeCandidate } from '../edge/index.ts';
import type { ReachabilityReport } from '../nat/report.ts';
import { releaseId, type TrustedKeys } from '../release/index.ts';
import {
  type Address,
  type Clock,
  type HttpClient,
  type Logger,
  type Random,
  type TcpNetwork,
  type UdpNetwork,
  type UdpSocket,
  withTimeout,
} from '../runtime/index.ts';
import type {
  AnnounceRequest,
  AnnounceResponse,
  CurrentJoinRequest,
  CurrentJoinResponse,
} from '../tracker/index.ts';
import { type AgentConfig, peerNetworkContext } from './config.ts';
import { type DeviceStateProvider, deviceStateFromConfig } from './device-state.ts';
import { type DownloadJob, openDownloadJob } from './download-job.ts';
import type { EngineOptions, InfraReason } from './engine/download.ts';
import { AgentError } from './errors.ts';
import { type HookRunner, type InstallResult, installRelease } from './install.ts';
import { type Announcer, announceBody } from './net/announcer.ts';
import { createPeerNetwork, type PeerNetwork, peerIdOfKey } from './net/peer-network.ts';
import { DEFAULT_TCP_WIRE_OPTIONS, startTcpWire, type TcpWire } from './net/tcp-wire.ts';
import { createTrackerClient, type TrackerClient } from './net/tracker-client.ts';
import { startTraversal, type Traversal, UNKNOWN_REACHABILITY } from './net/traversal.ts';
import { checkRelease, type ManifestFromPeers, type VerifiedRelease } from './release-check.ts';
import { createSeedingController, type SeedStopReason } from './seeding.ts';
import { createCdnSource } from './sources/cdn.ts';
import { connectEdgeSource } from './sources/edge.ts';
import { type AgentStateStore, openAgentState } from './storage/agent-state.ts';
import { type AgentStorage, createNodeStorage } from './storage/storage.ts';
import { createSwarm, createUploadLimiter, type Swarm } from './swarm/swarm.ts';
import type { UploadLimiter } from './swarm/token-bucket.ts';
import { openSwarmLink, type SwarmLink } from './swarm-link.ts';
import { loadTrustedKeys } from './trust.ts';
import type { BytesBySource } from './types.ts';

/** What the outside world hands the agent. The CLI builds real ones, the lab simulated ones. */
export interface AgentComponents {
  clock: Clock;
  random: Random;
  logger: Logger;
  http: HttpClient;
  /** Without it the agent uses only HTTP sources (CDN): no peers, no edges. */
  udp?: UdpNetwork;
  /** TCP for the BitTorrent wire with standard clients (used when config.network.tcpPort is set). */
  tcp?: TcpNetwork;
  /** Overrides config.trust (the lab passes keys it generated). */
  trusted?: TrustedKeys;
  /** Overrides config.deviceState (the lab flips Wi-Fi / power from a scenario). */
  deviceState?: DeviceStateProvider;
  /** Overrides the shell install-hook runner. */
  runHook?: HookRunner;
  /** Where state and downloads live (default: the real filesystem; the lab uses memory). */
  storage?: AgentStorage;
  /** Reachability report from a NAT probe (nat/); default: a conservative "unknown, not public". */
  reachability?: () => ReachabilityReport;
  /**
   * The default gateway to ask for a port mapping and our LAN address towards it (the CLI reads the
   * routing table, the lab passes the simulated home gateway); null or absent: no port mapping.
   */
  portMapGateway?: { gateway: string; internalHost: string } | null;
  /** Our LAN addresses (default: the socket's bound address, else the machine's IPv4 interfaces). */
  lanHosts?: string[];
}

/**
 * What is left of the flash-crowd gate's start-up hold, at least, when the swarm was joined before the
 * manifest came: the sessions are up, and the bitfields are a round trip away (a few tens of ms on a
 * fixed line; a mobile path's longer round trips are covered by the rest of the hold when the manifest
 * came quickly, and by the seeder wait in a running swarm).
 */
const EARLY_JOIN_HOLD_MS = 50;

/**
 * How long the manifest may take from peers (manifest-exchange.ts) before the CDN serves it: the peer
 * sessions are forming meanwhile anyway (the swarm is joined before the manifest), so what waiting
 * adds is the request's round trip once a session holding the manifest is up; a peer that never
 * answers costs at most this.
 */
const MANIFEST_FROM_PEERS_BUDGET_MS = 2000;

/** How long start-up waits for the NAT probe before the download goes on without it. */
const PROBE_TIMEOUT_MS = 3000;

export interface FetchTarget {
  product: string;
  channel: string;
}

export interface FetchOptions {
  /** Copy the verified file here when done. */
  out?: string;
  /** Called once the download is open (the CLI hooks its progress bar here). */
  onJob?: (job: DownloadJob) => void;
  /** Keep seeding after completion as the policy says (daemon, lab). Default false: stop at once. */
  seed?: boolean;
  /** Run the install step after download (daemon). Default false. */
  install?: boolean;
  /** Refuse to download when the tracker says the rollout has not reached this device (daemon). */
  respectRollout?: boolean;
}

export interface FetchSummary {
  product: string;
  channel: string;
  version: string;
  path: string;
  out: string | undefined;
  size: number;
  sha256: string;
  bytesBySource: BytesBySource;
  /** Bytes taken from this run's sources (excludes pieces already on disk). */
  downloadedBytes: number;
  /** This run's edge + CDN bytes by why the engine went to infrastructure (engine/download.ts InfraReason). */
  infraBytesByReason: Record<InfraReason, number>;
  uploadedBytes: number;
  resumedPieces: number;
  pieces: number;
  completionMs: number;
  failures: number;
  /** Most peers connected at once during the download. */
  peakPeers: number;
  /** Where the signed manifest came from: the CDN (or a mirror), or a peer of the swarm. */
  manifestFrom: 'cdn' | 'peer';
  /** From the start of the fetch to the verified manifest (start-up: pointer, tracker, manifest). */
  manifestMs: number;
  /**
   * PZ peer sessions of this agent so far (all releases): dials attempted and those that became a
   * peer, inbound sessions accepted, peers caught serving a wrong manifest, hole punches tried through
   * the rendezvous and those answered.
   */
  connections: {
    dialed: number;
    dialedOk: number;
    accepted: number;
    badManifests: number;
    punches: number;
    punched: number;
  };
  install?: InstallResult;
}

export interface Agent {
  readonly config: AgentConfig;
  fetch(target: FetchTarget, options?: FetchOptions): Promise<FetchSummary>;
  pause(): void;
  resume(): void;
  /** Stops downloads and seeding, announces "stopped", closes the socket. */
  stop(reason?: string): Promise<void>;
  /** Resolves when no download or seeding is running any more. */
  idle(): Promise<void>;
  deviceId(): string | undefined;
  /** Bytes uploaded to peers so far, all releases. */
  uploaded(): number;
  /** Why seeding of each release stopped, by release id. */
  seedStops(): Record<string, SeedStopReason>;
}

/** Maps the validated policy onto engine tuning. */
export function engineOptionsFromConfig(config: AgentConfig): Partial<EngineOptions> {
  return {
    infrastructureMode: config.policy.infrastructure,
    infrastructureShareCap: config.policy.infrastructureShareCap,
    peerRateFloorBps: config.policy.peerRateFloorBps,
    peerRateFloorMs: config.policy.peerRateFloorSeconds * 1000,
    peerRatePatienceMs: config.policy.peerRatePatienceSeconds * 1000,
    stallTimeoutMs: config.policy.stallTimeoutSeconds * 1000,
    // With a tracker, give peers a moment before the CDN may serve everything in parallel, and let
    // the first peer connections form before the flash-crowd gate rolls (infra-gate.ts).
    peerGraceMs: config.tracker ? 3000 : 0,
    infraHoldMs: config.tracker ? 200 : 0,
  };
}

/**
 * The outcome of the release check against the configured CDNs: its release, or its refusal, or —
 * when no configured CDN could serve the documents (or none is configured) and the tracker named
 * mirrors — a check over those as well.
 */
async function settleCheck(
  first: { release: VerifiedRelease } | { error: unknown } | undefined,
  retry: (() => Promise<VerifiedRelease>) | undefined,
): Promise<VerifiedRelease> {
  if (first && 'release' in first) return first.release;
  const unreachable = !first || (first.error instanceof AgentError && first.error.code === 'NO_SOURCES');
  if (first && (!unreachable || !retry)) throw first.error;
  if (!retry) throw new AgentError('NO_SOURCES', 'no CDN URL to fetch the release from');
  return retry();
}

/** The tracker hands out object URLs (`<base>/releases/<p>/<v>/<file>`); sources want the base. */
export function cdnBaseOf(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  const match = /^(.*?)\/releases\/[^/]+\/[^/]+\/[^/]+$/.exec(trimmed);
  return match ? match[1]! : trimmed;
}

interface ActiveRelease {
  job: DownloadJob;
  swarm?: Swarm;
  announcer?: Announcer;
  done: Promise<void>;
  stop(reason: SeedStopReason): void;
}

export function createAgent(config: AgentConfig, components: AgentComponents): Agent {
  const { clock, logger, http } = components;
  const storage = components.storage ?? createNodeStorage();
  const deviceState = components.deviceState ?? deviceStateFromConfig(config.deviceState);
  let state: AgentStateStore | undefined;
  let trusted: TrustedKeys | undefined = components.trusted;
  let socket: UdpSocket | undefined;
  let network: PeerNetwork | undefined;
  let networkStarting: Promise<PeerNetwork | undefined> | undefined;
  const limiter: UploadLimiter = createUploadLimiter(config.policy.uploadRateBps, { clock });
  const tracker: TrackerClient | undefined = config.tracker
    ? createTrackerClient(config.tracker, { http })
    : undefined;
  const active = new Map<string, ActiveRelease>();
  const seedStops: Record<string, SeedStopReason> = {};
  let uploadedClosed = 0;
  const punchStats = { punches: 0, punched: 0 };
  let paused = false;
  let stopped = false;

  const init = async (): Promise<{ state: AgentStateStore; trusted: TrustedKeys }> => {
    trusted ??= loadTrustedKeys(config.trust.keys, config.trust.threshold);
    state ??= await openAgentState(config.stateDir, { random: components.random, storage }, config.deviceId);
    return { state, trusted };
  };

  const startNetwork = (s: AgentStateStore): Promise<PeerNetwork | undefined> => {
    if (!components.udp) return Promise.resolve(undefined);
    networkStarting ??= (async () => {
      let key = s.get().transportKey;
      if (!key) {
        key = Buffer.from(components.random.bytes(32)).toString('base64');
        const persisted = key;
        await s.update((st) => {
          st.transportKey = persisted;
        });
      }
      socket = await components.udp!.bind({ host: config.network.udpHost, port: config.network.udpPort });
      network = createPeerNetwork(
        {
          staticPrivateKey: new Uint8Array(Buffer.from(key, 'base64')),
          congestion: config.network.peerCongestion,
          networkContext: peerNetworkContext(config.network),
        },
        { socket, clock, random: components.random, logger },
      );
      logger.info({ udp: socket.localAddress() }, 'peer network up');
      return network;
    })();
    return networkStarting;
  };

  let tcpWire: TcpWire | undefined;
  let tcpStarting: Promise<TcpWire | undefined> | undefined;
  /** The TCP BitTorrent wire, once per agent; a port we cannot bind costs the TCP peers, not the update. */
  const startTcpWireOnce = (): Promise<TcpWire | undefined> => {
    const port = config.network.tcpPort;
    if (!components.tcp || port === undefined) return Promise.resolve(undefined);
    tcpStarting ??= startTcpWire(
      {
        ...DEFAULT_TCP_WIRE_OPTIONS,
        host: config.network.tcpHost,
        port,
        maxConnections: config.policy.maxPeers,
      },
      { tcp: components.tcp, clock, logger },
    ).then(
      (wire) => {
        tcpWire = wire;
        logger.info({ tcp: wire.localAddress() }, 'tcp bittorrent wire up');
        return wire;
      },
      (error: unknown) => {
        logger.warn({ err: (error as Error).message, port }, 'cannot listen on tcp: no standard clients');
        return undefined;
      },
    );
    return tcpStarting;
  };

  let traversal: Traversal | undefined;
  let traversalStarting: Promise<Traversal | undefined> | undefined;
  const lanAddresses = (net: PeerNetwork): Address[] => {
    const local = net.localAddress();
    const hosts =
      components.lanHosts ??
      (local.host !== '0.0.0.0'
        ? [local.host]
        : Object.values(networkInterfaces())
            .flatMap((list) => list ?? [])
            .filter((a) => a.family === 'IPv4' && !a.internal)
            .map((a) => a.address));
    return hosts.slice(0, 8).map((host) => ({ host, port: local.port }));
  };
  const rendezvousEndpoint = async (): Promise<{ address: Address; publicKey: Uint8Array } | null> => {
    if (config.network.rendezvous) return config.network.rendezvous;
    if (!tracker || !config.tracker) return null;
    try {
      const info = await withTimeout(clock, 2000, tracker.rendezvous(), () => new Error('timed out'));
      const key = new Uint8Array(Buffer.from(info.publicKey, 'base64'));
      if (key.length !== 32) return null;
      return { address: { host: new URL(config.tracker).hostname, port: info.port }, publicKey: key };
    } catch (error) {
      logger.info({ err: (error as Error).message }, 'tracker runs no rendezvous: no hole punching');
      return null;
    }
  };
  /** NAT probe, port mapping and rendezvous: bounded, started once per run of releases. */
  const startTraversalOnce = (net: PeerNetwork): Promise<Traversal | undefined> => {
    if (!config.network.traversal || components.reachability || !components.udp)
      return Promise.resolve(undefined);
    traversalStarting ??= (async () => {
      const rendezvous = await rendezvousEndpoint();
      const stun = [...(rendezvous ? [rendezvous.address] : []), ...config.edges.map((e) => e.address)];
      const t = await startTraversal(
        {
          stun,
          rendezvous,
          lan: lanAddresses(net),
          gateway: config.network.portMapping ? (components.portMapGateway ?? null) : null,
          probeTimeoutMs: PROBE_TIMEOUT_MS,
          punchTimeoutMs: 2500,
        },
        { network: net, clock, random: components.random, logger, udp: components.udp!, http },
      );
      traversal = t;
      return t;
    })();
    return traversalStarting;
  };
  const stopTraversal = async (): Promise<void> => {
    const t = traversal ?? (await traversalStarting?.catch(() => undefined));
    traversal = undefined;
    traversalStarting = undefined;
    await t?.stop();
  };

  /** The tracker's view of our address: equal to our socket's address means no NAT in between. */
  let observedIp: string | undefined;
  const reachability = (net: PeerNetwork): ReachabilityReport => {
    if (components.reachability) return components.reachability();
    // A probe without answers (no STUN server reachable) says nothing: keep the observed-address rule.
    const probed = traversal?.report();
    if (probed && (probed.mapping !== 'unknown' || probed.portMapping)) return probed;
    const local = net.localAddress();
    if (observedIp !== undefined && local.host === observedIp)
      return {
        ...UNKNOWN_REACHABILITY,
        public: true,
        mapping: 'none',
        filtering: 'none',
        reflexive: { host: observedIp, port: local.port },
      };
    return UNKNOWN_REACHABILITY;
  };

  const candidates = (): AnnounceRequest['candidates'] => {
    if (!network) return [];
    if (traversal) return traversal.candidates();
    const local = network.localAddress();
    const lan = (components.reachability?.() ?? UNKNOWN_REACHABILITY).lan;
    const out: AnnounceRequest['candidates'] = lan.map((a) => ({
      type: 'host' as const,
      host: a.host,
      port: a.port,
    }));
    if (local.host !== '0.0.0.0' && !out.some((c) => c.host === local.host))
      out.push({ type: 'host', host: local.host, port: local.port });
    return out.slice(0, 16);
  };

  const uploadedNow = (): number => {
    let total = uploadedClosed;
    for (const a of active.values()) total += a.swarm?.uploaded() ?? 0;
    return total;
  };

  const report = async (
    s: AgentStateStore,
    release: VerifiedRelease,
    job: DownloadJob,
    outcome: 'downloaded' | 'installed' | 'download-failed' | 'install-failed',
    extra: { completionMs?: number; failure?: string; uploaded: number },
  ): Promise<void> => {
    const token = s.get().deviceToken;
    if (!tracker || !token) return;
    const b = job.state.bytesBySource;
    try {
      await tracker.report({
        deviceId: s.get().deviceId,
        deviceToken: token,
        release: releaseId(release.manifest.product, release.manifest.version),
        bytes: {
          peerSameIsp: b['peer-same-isp'],
          peerOtherIsp: b['peer-other-isp'],
          edge: b.edge,
          cdn: b.cdn,
        },
        uploaded: Math.round(extra.uploaded),
        ...(extra.completionMs !== undefined ? { completionMs: Math.round(extra.completionMs) } : {}),
        outcome,
        ...(extra.failure ? { failure: extra.failure.slice(0, 300) } : {}),
      });
    } catch (error) {
      logger.warn({ err: (error as Error).message, outcome }, 'report to tracker failed');
    }
  };

  /** Joins a release's swarm (announcer, session routing); see swarm-link.ts. Needs a tracker. */
  /** Until the download's seeding controller follows the device state, one reading of it is announced. */
  const earlyConditions = async () => {
    const c = await deviceState.get().catch(() => ({ wifi: false, power: false }));
    return {
      wifi: c.wifi,
      charging: c.power,
      uploadAllowed: (!config.policy.wifiOnly || c.wifi) && (!config.policy.powerOnly || c.power),
    };
  };
  const ispHints = () => ({
    ...(config.network.isp ? { isp: config.network.isp } : {}),
    ...(config.network.region ? { region: config.network.region } : {}),
  });

  /**
   * The first announce, asked of the tracker together with the current release (currentAndJoin), so a
   * device does not wait a round trip between learning its release and joining its swarm. None while a
   * release of the product is active here: that link announces for itself (it may be seeding).
   */
  const joinRequest = async (
    s: AgentStateStore,
    product: string,
    netStarting: Promise<PeerNetwork | undefined>,
  ): Promise<CurrentJoinRequest['announce']> => {
    if (!components.udp || [...active.keys()].some((id) => id.startsWith(`${product}@`))) return undefined;
    const net = await netStarting;
    if (!net) return undefined;
    const tcp = await startTcpWireOnce();
    return announceBody(
      {
        maxPeers: config.policy.maxPeers,
        ispHints: ispHints(),
        token: s.get().deviceToken,
        conditions: await earlyConditions(),
        have: undefined,
        port: net.localAddress().port,
        publicKey: net.publicKey,
        reachability: reachability(net),
        candidates: candidates(),
        tcpPort: tcp?.localAddress().port,
      },
      'started',
    );
  };

  const openLink = async (
    net: PeerNetwork,
    tcp: TcpWire | undefined,
    release: string,
    infoHash: string,
    firstAnswer?: AnnounceResponse,
  ): Promise<SwarmLink> => {
    const s = (await init()).state;
    const trav = await startTraversalOnce(net);
    const early = await earlyConditions();
    return openSwarmLink(
      {
        release,
        infoHash,
        deviceId: s.get().deviceId,
        maxPeers: config.policy.maxPeers,
        ispHints: ispHints(),
        ...(firstAnswer ? { firstAnswer } : {}),
      },
      {
        clock,
        logger,
        tracker: tracker!,
        network: net,
        traversal: trav,
        tcp,
        reachability: () => reachability(net),
        candidates,
        token: {
          get: () => s.get().deviceToken,
          set: (token) =>
            void s.update((st) => {
              st.deviceToken = token;
            }),
        },
        conditions: () => early,
        punchStats,
        onAnswer: (response) => {
          observedIp = response.you.publicIp;
        },
      },
    );
  };

  const fetch = async (target: FetchTarget, options: FetchOptions = {}): Promise<FetchSummary> => {
    if (stopped) throw new AgentError('DOWNLOAD_ABORTED', 'agent stopped');
    const { state: s, trusted: keys } = await init();
    const started = clock.now();
    const deviceId = s.get().deviceId;

    // Rollout gate and extra CDN URLs from the tracker; a tracker outage never blocks the update.
    // With CDN URLs configured, the signed release check does not wait for the tracker's answer: both
    // run at once, because every device of a flash crowd pays this start-up before it can trade.
    const cdnUrls = [...config.cdn];
    // The manifest is asked of the swarm's peers first once the swarm is joined (below); the channel
    // pointer pins it, so they can only serve the pinned document.
    let linkDecided: (l: SwarmLink | undefined) => void = () => {};
    const linkReady = new Promise<SwarmLink | undefined>((resolve) => {
      linkDecided = resolve;
    });
    const fromPeers: ManifestFromPeers | undefined =
      tracker && components.udp
        ? async (channel) => {
            const l = await linkReady;
            if (!l || l.release !== releaseId(target.product, channel.version)) return undefined;
            return l.fetchManifest(channel.manifestSha256, MANIFEST_FROM_PEERS_BUDGET_MS);
          }
        : undefined;
    const check = (baseUrls: readonly string[]): Promise<VerifiedRelease> =>
      checkRelease(target, {
        http,
        clock,
        logger,
        trusted: keys,
        state: s,
        baseUrls,
        ...(fromPeers ? { fromPeers } : {}),
      });
    const early =
      cdnUrls.length > 0
        ? check([...cdnUrls]).then(
            (release) => ({ release }),
            (error: unknown) => ({ error }),
          )
        : undefined;
    // The network, the NAT probe and the TCP wire do not depend on the release: they start now.
    const netStarting = startNetwork(s);
    netStarting.catch(() => undefined);
    // NAT traversal (probe, port mapping, the rendezvous session) takes round trips of its own; begun
    // beside the tracker query rather than after its answer, the device can register (and punch, and
    // be punched to) as soon as that answer brings its device token.
    if (tracker)
      void netStarting.then((net) => (net ? startTraversalOnce(net) : undefined)).catch(() => undefined);
    let current: CurrentJoinResponse | undefined;
    let link: SwarmLink | undefined;
    try {
      if (tracker) {
        try {
          const announce = await joinRequest(s, target.product, netStarting);
          current = announce
            ? await tracker.currentAndJoin(target.product, target.channel, {
                deviceId,
                respectRollout: options.respectRollout === true,
                announce,
              })
            : await tracker.current(target.product, target.channel, deviceId);
          for (const u of current.cdnUrls) {
            const base = cdnBaseOf(u);
            if (!cdnUrls.includes(base)) cdnUrls.push(base);
          }
          if (options.respectRollout && !current.eligible)
            throw new AgentError(
              'NOT_ELIGIBLE',
              `rollout of ${current.release} has not reached this device yet`,
            );
        } catch (error) {
          if (error instanceof AgentError) throw error;
          logger.warn(
            { err: (error as Error).message },
            'tracker unavailable: continuing with CDN and edges',
          );
        }
      }
      // The tracker named the release the channel points at: its swarm is joined now, while the manifest
      // downloads, unless this release is already active here (its own link serves it).
      if (current && !active.has(current.release)) {
        const net = await netStarting;
        if (net)
          link = await openLink(
            net,
            await startTcpWireOnce(),
            current.release,
            current.infoHash,
            current.announce,
          );
      }
    } finally {
      linkDecided(link);
    }
    let release: VerifiedRelease;
    let manifestMs = 0;
    let job: DownloadJob;
    try {
      const mirrors = cdnUrls.length > config.cdn.length;
      release = await settleCheck(await early, early && !mirrors ? undefined : () => check(cdnUrls));
      manifestMs = clock.now() - started;
      const verified = release.manifest;
      const verifiedId = releaseId(verified.product, verified.version);
      // The channel moved on between the tracker's answer and ours: that swarm is not ours.
      if (link && (link.release !== verifiedId || link.infoHash !== verified.infoHash)) {
        await link.close();
        link = undefined;
      }
      // Whichever source it came from, the swarm's peers may now fetch the manifest from us.
      link?.provideManifest(release.manifestBytes);
      const existing = active.get(verifiedId);
      if (existing) {
        await existing.done.catch(() => undefined);
      }
      const engine = engineOptionsFromConfig(config);
      // The start-up hold lets the first peer sessions form before the flash-crowd gate rolls; joined
      // early, they have been forming since the tracker's answer: only a bitfield round trip is left.
      const answeredAt = link?.answeredAt();
      if (answeredAt !== undefined && engine.infraHoldMs)
        engine.infraHoldMs = Math.max(
          Math.min(engine.infraHoldMs, EARLY_JOIN_HOLD_MS),
          engine.infraHoldMs - (clock.now() - answeredAt),
        );
      job = await openDownloadJob(release, { stateDir: config.stateDir, engine }, { ...components, storage });
    } catch (error) {
      await link?.close();
      throw error;
    }
    const { manifest } = release;
    const id = releaseId(manifest.product, manifest.version);
    options.onJob?.(job);
    if (paused) job.engine.pause();
    const addCdn = (baseUrl: string): void => {
      job.engine.addSource(
        createCdnSource({ baseUrl, objectKey: manifest.object, layout: manifest }, { http }),
      );
    };

    const seeding = createSeedingController(config.policy, {
      clock,
      deviceState,
      uploaded: () => swarm?.uploaded() ?? 0,
      size: manifest.size,
      onChange: () => swarm?.rechoke(),
    });

    let swarm: Swarm | undefined;
    const trackerEdges: EdgeCandidate[] = [];
    let unregister: (() => void) | undefined;
    let unregisterTcp: (() => void) | undefined;
    const net = await netStarting;
    const tcp = await startTcpWireOnce();
    if (net || tcp) {
      const selfKey = net ? net.publicKey : components.random.bytes(32);
      swarm = createSwarm(
        {
          infoHash: manifest.infoHash,
          peerId: createHash('sha1').update(selfKey).digest('hex'),
          selfId: peerIdOfKey(selfKey),
          maxPeers: config.policy.maxPeers,
          uploadSlots: config.policy.uploadSlots,
          maxInFlightPerPeer: 2,
        },
        {
          clock,
          random: components.random,
          logger,
          engine: job.engine,
          store: job.store,
          have: job.have,
          layout: manifest,
          limiter,
          uploadAllowed: () => seeding.uploadAllowed() && !paused,
        },
      );
    }
    if (swarm && tcp) {
      const sw = swarm;
      unregisterTcp = tcp.register(sw);
      for (const peer of config.network.tcpPeers) void tcp.dial(manifest.infoHash, peer);
    }
    if (net && swarm) {
      const sw = swarm;
      if (tracker) {
        link ??= await openLink(net, tcp, id, manifest.infoHash);
        link.provideManifest(release.manifestBytes);
        link.attach({
          have: job.have,
          swarm: sw,
          conditions: () => {
            const c = seeding.conditions();
            return { wifi: c.wifi, charging: c.power, uploadAllowed: seeding.uploadAllowed() };
          },
          apply: (response) => {
            job.engine.setSwarmLeechers(response.swarm.leechers);
            job.engine.setSwarmSeeders(response.swarm.seeders);
            for (const e of response.edges)
              if (!trackerEdges.some((t) => t.id === e.id))
                trackerEdges.push({
                  address: e.address,
                  publicKey: e.publicKey,
                  id: e.id,
                  region: e.region,
                });
            for (const u of response.cdnUrls) addCdn(cdnBaseOf(u));
            // The tracker ranks rarity from the bitfields of the peers it handed out; while none of
            // them has anything every piece ties and the list is just the lowest indices — steering
            // every device to the same pieces. Only a list with information in it is used.
            if (response.rarePieces.length > 0 && response.peers.some((p) => p.have > 0)) {
              const rarity = new Array<number>(manifest.pieces.length).fill(1);
              for (const i of response.rarePieces) if (i >= 0 && i < rarity.length) rarity[i] = 0;
              job.engine.setSwarmRarity(rarity);
            }
          },
        });
        // The engine must not run before the first answer (joined early, it is usually in by now): with
        // no swarm size it counts itself alone and takes everything from infrastructure.
        if (link.answeredAt() === undefined) await link.started;
      } else {
        unregister = net.register(sw, () => 'peer-same-isp');
      }
    } else if (link) {
      await link.close();
      link = undefined;
    }
    const announcer = link?.announcer;

    // Edge discovery runs beside the download: bounded, and without an answer we fail forward.
    if (net) {
      const candidates: EdgeCandidate[] = [
        ...config.edges.map((e) => ({ address: e.address, publicKey: e.publicKey })),
        ...trackerEdges,
      ];
      void connectEdgeSource(
        {
          manifest,
          candidates,
          initTimeoutMs: config.policy.edgeInitTimeoutMs,
          ...(config.network.region ? { region: config.network.region } : {}),
        },
        { endpoint: net.endpoint, clock, logger },
      ).then((source) => {
        if (source && !job.engine.addSource(source)) source.close('not needed');
      });
    }
    let peakPeers = 0;
    job.engine.on((e) => {
      if (e.type === 'piece' && swarm) peakPeers = Math.max(peakPeers, swarm.peers().length);
    });
    // Infrastructure joins after the swarm is known, so the first pieces go to peers when they can.
    for (const u of cdnUrls) addCdn(u);

    let resolveDone: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    let finished = false;
    const finish = async (reason: SeedStopReason): Promise<void> => {
      if (finished) return;
      finished = true;
      seedStops[id] = reason;
      seeding.close();
      uploadedClosed += swarm?.uploaded() ?? 0;
      active.delete(id);
      swarm?.close();
      for (const sourceId of job.engine.sourceIds()) job.engine.removeSource(sourceId, 'release finished');
      unregister?.();
      unregisterTcp?.();
      await link?.close();
      // Nothing left to seed: release the port mapping and the rendezvous session.
      if (active.size === 0) await stopTraversal();
      await job.close();
      logger.info({ release: id, reason, uploaded: swarm?.uploaded() ?? 0 }, 'seeding stopped');
      resolveDone();
    };
    active.set(id, {
      job,
      ...(swarm ? { swarm } : {}),
      ...(announcer ? { announcer } : {}),
      done,
      stop: (reason) => {
        job.engine.stop(`stopped: ${reason}`);
        seeding.stop(reason);
        void finish(reason);
      },
    });

    try {
      await job.engine.run();
      await job.flush();
    } catch (error) {
      await report(s, release, job, 'download-failed', {
        failure: (error as Error).message,
        uploaded: uploadedNow(),
      });
      await finish('shutdown');
      throw error;
    }
    const completionMs = clock.now() - started;
    const sha256 = await storage.sha256(job.path);
    if (sha256 !== manifest.sha256) {
      await finish('shutdown');
      throw new AgentError(
        'RELEASE_REFUSED',
        `assembled file hashes to ${sha256}, manifest says ${manifest.sha256}`,
      );
    }
    if (options.out) await storage.copyOut(job.path, options.out);
    void announcer?.completed();
    await report(s, release, job, 'downloaded', { completionMs, uploaded: swarm?.uploaded() ?? 0 });
    seeding.completed();

    let install: InstallResult | undefined;
    if (options.install) {
      try {
        install = await installRelease(release, job.path, config.install, {
          clock,
          trusted: keys,
          state: s,
          storage,
          ...(components.runHook ? { runHook: components.runHook } : {}),
        });
      } catch (error) {
        install = { outcome: 'install-failed', detail: (error as Error).message };
      }
      if (install.outcome !== 'already-installed')
        await report(s, release, job, install.outcome, {
          completionMs,
          uploaded: swarm?.uploaded() ?? 0,
          ...(install.detail ? { failure: install.detail } : {}),
        });
      seeding.installed();
    }

    const progress = job.engine.progress();
    const summary: FetchSummary = {
      product: manifest.product,
      channel: target.channel,
      version: manifest.version,
      path: job.path,
      out: options.out,
      size: manifest.size,
      sha256,
      bytesBySource: { ...job.state.bytesBySource },
      downloadedBytes: Object.values(progress.bytesBySource).reduce((a, b) => a + b, 0),
      infraBytesByReason: progress.infraBytesByReason,
      uploadedBytes: swarm?.uploaded() ?? 0,
      resumedPieces: job.resumedPieces,
      pieces: manifest.pieces.length,
      completionMs,
      failures: job.state.failures,
      peakPeers,
      manifestFrom: release.manifestSource.sourceClass === 'cdn' ? 'cdn' : 'peer',
      manifestMs,
      connections: {
        ...(network?.connectionStats() ?? { dialed: 0, dialedOk: 0, accepted: 0, badManifests: 0 }),
        ...punchStats,
      },
      ...(install ? { install } : {}),
    };
    if (options.seed && swarm) void seeding.stopped().then((reason) => finish(reason));
    else await finish('shutdown');
    return summary;
  };

  /** Fetches under way (until their release is active, or they failed). */
  let fetching = 0;
  /**
   * A fetch starts NAT traversal beside its tracker query; one that fails (not eligible yet, a bad
   * release, no source) leaves nothing to seed, so the port mapping and the rendezvous session go
   * unless another release is active or being fetched.
   */
  const fetchReleasingTraversal = async (
    target: FetchTarget,
    options: FetchOptions = {},
  ): Promise<FetchSummary> => {
    fetching++;
    try {
      return await fetch(target, options);
    } catch (error) {
      if (active.size === 0 && fetching === 1) await stopTraversal().catch(() => undefined);
      throw error;
    } finally {
      fetching--;
    }
  };

  return {
    config,
    deviceId: () => state?.get().deviceId,
    fetch: fetchReleasingTraversal,
    pause() {
      paused = true;
      for (const a of active.values()) {
        a.job.engine.pause();
        a.swarm?.rechoke();
      }
    },
    resume() {
      paused = false;
      for (const a of active.values()) {
        a.job.engine.resume();
        a.swarm?.rechoke();
      }
    },
    async stop(reason = 'agent stopped') {
      stopped = true;
      logger.info({ reason }, 'agent stopping');
      const waits = [...active.values()].map((a) => {
        a.stop('shutdown');
        return a.done;
      });
      await Promise.all(waits);
      await stopTraversal();
      await tcpWire?.close();
      tcpWire = undefined;
      tcpStarting = undefined;
      await network?.close();
      await socket?.close().catch(() => undefined);
      network = undefined;
      socket = undefined;
    },
    async idle() {
      while (active.size > 0) await Promise.all([...active.values()].map((a) => a.done));
    },
    uploaded: uploadedNow,
    seedStops: () => ({ ...seedStops }),
  };
}
