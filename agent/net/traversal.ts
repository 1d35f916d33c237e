import {
  buildReport,
  channelFromEndpoint,
  createPuncher,
  gatherCandidates,
  type PortMapper,
  type Puncher,
  probeReachability,
  type ReachabilityReport,
} from '../../nat/index.ts';
import {
  type Address,
  type Clock,
  formatAddress,
  type HttpClient,
  type Logger,
  type Random,
  type UdpNetwork,
  withTimeout,
} from '../../runtime/index.ts';
import { createRendezvousClient, type PunchGo, type RendezvousClient } from '../../tracker/index.ts';
import type { PeerCandidate } from '../../tracker/swarm-store.ts';
import type { Connection } from '../../transport/index.ts';
import type { PeerNetwork } from './peer-network.ts';

export interface TraversalOptions {
  /** STUN servers: the tracker's rendezvous endpoint and edges (they share their PZ socket with STUN). */
  stun: Address[];
  /** The tracker's rendezvous PZ endpoint, or null when there is none. */
  rendezvous: { address: Address; publicKey: Uint8Array } | null;
  /** Our LAN addresses (with the socket's port). */
  lan: Address[];
  /** Gateway for PCP/NAT-PMP/UPnP, or null to skip port mapping. */
  gateway: { gateway: string; internalHost: string } | null;
  /** Upper bound on the start-up probe (it runs beside the download; registration waits for it). */
  probeTimeoutMs: number;
  /** Budget for one punch. */
  punchTimeoutMs: number;
}

export interface Traversal {
  /** The latest reachability report (conservative "unknown" until the probe answered). */
  report(): ReachabilityReport;
  /** Settles when the start-up probe answered or ran out of its bounded time. */
  readonly probed: Promise<void>;
  /** Our candidates for announces and the rendezvous: port-mapped, server-reflexive, LAN. */
  candidates(): PeerCandidate[];
  /** Registers with the rendezvous once the tracker issued a device token (idempotent, never throws). */
  register(request: { deviceId: string; deviceToken: string; release: string }): Promise<boolean>;
  /** Asks the rendezvous to introduce `deviceId` and punches; resolves with the address that answered. */
  punch(deviceId: string): Promise<Address | null>;
  /** Stops the port mapper (unmaps), closes the rendezvous session and the puncher. */
  stop(): Promise<void>;
  /** Whether we accept unsolicited inbound changed after the probe answered (a late port mapping). */
  onReachabilityChange(handler: () => void): () => void;
}

/** How long the start-up probe waits for port mapping after classifying the NAT (probe.ts). */
const MAPPING_GRACE_MS = 250;

/** What the agent reports before (or without) a NAT probe: nothing known, not public. */
export const UNKNOWN_REACHABILITY: ReachabilityReport = {
  public: false,
  mapping: 'unknown',
  filtering: 'unknown',
  reflexive: null,
  portMapping: null,
  lan: [],
  hairpin: null,
  errors: [],
};

/**
 * NAT traversal for the agent on its one PZ socket: a bounded start-up probe (STUN classification
 * against the tracker's rendezvous and the edges, port mapping in parallel), a rendezvous session with
 * the tracker, and hole punching when a peer is not directly reachable.
 */
export async function startTraversal(
  options: TraversalOptions,
  components: {
    network: PeerNetwork;
    clock: Clock;
    random: Random;
    logger: Logger;
    udp: UdpNetwork;
    http: HttpClient;
  },
): Promise<Traversal> {
  const { network, clock, logger } = components;
  const channel = channelFromEndpoint(network.endpoint);
  const port = network.localAddress().port;
  let report: ReachabilityReport = { ...UNKNOWN_REACHABILITY, lan: options.lan };
  let mapper: PortMapper | null = null;
  let stopped = false;
  const reachabilityHandlers = new Set<() => void>();

  const probing = probeReachability(
    {
      stun: options.stun,
      lan: options.lan,
      portMapping: options.gateway,
      port,
      stunTimeoutMs: Math.min(1500, options.probeTimeoutMs),
      // Registration (and so every punch) waits for this probe; a mapping made later updates the
      // report through the mapper's onChange below.
      mappingGraceMs: MAPPING_GRACE_MS,
    },
    { ...components, channel },
  ).then((result) => {
    mapper = result.mapper;
    if (stopped) void mapper?.stop();
    report = result.report;
    mapper?.onChange((r) => {
      const wasPublic = report.public;
      report = buildReport({
        classification: report,
        portMapping: r.info,
        lan: options.lan,
        errors: report.errors,
      });
      // A mapping made after the probe answered (mappingGraceMs) makes us reachable: say so now.
      if (report.public !== wasPublic) for (const h of reachabilityHandlers) h();
    });
    return result;
  });
  const probed = (async () => {
    try {
      await withTimeout(clock, options.probeTimeoutMs, probing, () => new Error('nat probe timed out'));
      logger.info(
        {
          public: report.public,
          mapping: report.mapping,
          filtering: report.filtering,
          reflexive: report.reflexive,
          portMapping: report.portMapping,
        },
        'nat probe done',
      );
    } catch (error) {
      // Fail forward: a late answer still updates the report; the download goes on meanwhile.
      logger.warn({ err: (error as Error).message }, 'nat probe incomplete: continuing');
      probing.catch(() => undefined);
    }
  })();

  const puncher: Puncher = createPuncher(
    { timeoutMs: options.punchTimeoutMs },
    { ...components, port: channel },
  );
  let rendezvous: RendezvousClient | null = null;
  let registering: Promise<boolean> | null = null;
  /** The client once its register message is on the wire: punch requests may follow it at once. */
  let registerSent: Promise<RendezvousClient | null> | null = null;
  let closeConnection: (() => void) | null = null;
  /**
   * The session with the rendezvous, opened as traversal starts: its handshake overlaps the NAT probe
   * and the tracker's answer instead of following them. A failed one is opened again on the next
   * registration.
   */
  let connecting: Promise<Connection> | null = null;
  const connect = (): Promise<Connection> => {
    const rv = options.rendezvous!;
    connecting ??= network.endpoint.connect(rv.address, rv.publicKey, { timeoutMs: 3000 });
    const attempt = connecting;
    const forget = (): void => {
      if (connecting === attempt) connecting = null;
    };
    // A session that fails, or closes (idle) before a registration takes it, is opened afresh.
    attempt.then((c) => c.onClose(forget), forget);
    return attempt;
  };
  if (options.rendezvous) connect().catch(() => undefined);

  const candidates = (): PeerCandidate[] =>
    gatherCandidates({
      lan: options.lan,
      reflexive: report.reflexive,
      mapped: report.portMapping?.reachable ? report.portMapping.external : null,
    });

  const punchWith = async (go: PunchGo): Promise<Address | null> => {
    try {
      const session = await puncher.punch({
        session: go.session,
        local: candidates(),
        remote: go.candidates,
        localMapping: report.mapping,
        remoteMapping: go.peerMapping,
      });
      // The PZ session's own traffic holds the NAT binding from here on.
      session.close();
      logger.debug({ remote: formatAddress(session.remote), via: session.via }, 'punched');
      return session.remote;
    } catch (error) {
      logger.debug({ err: (error as Error).message }, 'punch failed');
      return null;
    }
  };

  const register: Traversal['register'] = (request) => {
    if (!options.rendezvous || stopped) return Promise.resolve(false);
    if (registering) return registering;
    let sent: (client: RendezvousClient | null) => void = () => {};
    registerSent = new Promise((resolve) => {
      sent = resolve;
    });
    registering = (async () => {
      try {
        // Register with what the probe learned (bounded); the session has been opening meanwhile.
        const [connection] = await Promise.all([connect(), probed]);
        connecting = null; // this one is ours now; its close starts the next registration afresh
        closeConnection = () => connection.close(0, 'agent stopping');
        const client = createRendezvousClient(connection);
        // A lost session (tracker restart, path change): register again on the next announce.
        connection.onClose(() => {
          if (rendezvous === client) rendezvous = null;
          registering = null;
          registerSent = null;
        });
        // The other side asked for us: punch at once so both probe simultaneously.
        client.onIntroduction((go) => void punchWith(go));
        const answered = client.register({ ...request, mapping: report.mapping, candidates: candidates() });
        sent(client);
        await withTimeout(clock, 3000, answered, () => new Error('rendezvous registration timed out'));
        rendezvous = client;
        if (stopped) client.close();
        logger.info({}, 'registered with the rendezvous');
        return true;
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'rendezvous unavailable: direct peers only');
        sent(null);
        closeConnection?.();
        closeConnection = null;
        registering = null; // retried on the next announce
        registerSent = null;
        return false;
      }
    })();
    return registering;
  };

  return {
    report: () => report,
    probed,
    onReachabilityChange(handler) {
      reachabilityHandlers.add(handler);
      return () => reachabilityHandlers.delete(handler);
    },
    candidates,
    register,
    async punch(deviceId) {
      // The first announce answers before registration finishes (it waits for the NAT probe), and
      // its punch peers are the ones that need us most: wait for that registration's message to be
      // sent (bounded by the probe timeout and the 3 s connect), not given up on. The rendezvous
      // handles a session's messages in order, so the request follows the registration without
      // waiting a round trip for its answer; if the registration is refused, so is the request.
      const client = rendezvous ?? (registerSent && !stopped ? await registerSent : null);
      if (!client || stopped) return null;
      let go: PunchGo;
      try {
        go = await withTimeout(
          clock,
          3000,
          client.punch(deviceId),
          () => new Error('punch request timed out'),
        );
      } catch (error) {
        logger.debug({ err: (error as Error).message, peer: deviceId }, 'introduction refused');
        return null;
      }
      return punchWith(go);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      puncher.close();
      rendezvous?.close();
      closeConnection?.();
      // A session opened ahead of a registration that never came.
      connecting?.then((c) => c.close(0, 'agent stopping')).catch(() => undefined);
      await (mapper as PortMapper | null)?.stop();
    },
  };
}
