import type { ReachabilityReport } from '../../nat/report.ts';
import type { Address, Clock, Logger, TimerHandle } from '../../runtime/index.ts';
import type { AnnounceRequest, AnnounceResponse, RankedPeer } from '../../tracker/index.ts';
import type { Bitfield } from '../engine/bitfield.ts';
import type { SourceClass } from '../types.ts';
import type { PeerNetwork } from './peer-network.ts';
import type { TrackerClient } from './tracker-client.ts';

export interface AnnouncerOptions {
  release: string;
  infoHash: string;
  deviceId: string;
  maxPeers: number;
  /** Retry delay after a failed announce (tracker down): bounded exponential backoff from here. */
  retryMs: number;
  ispHints?: { isp?: string; region?: string };
  /** Lower bound on the announce interval the tracker may ask for (keeps lab runs responsive). */
  maxIntervalMs: number;
  /**
   * The answer to a `started` announce made already, inside the tracker's current-release call
   * (tracker-client `currentAndJoin`): the announcer acts on it instead of announcing again.
   */
  firstAnswer?: AnnounceResponse;
}

/** What an announce says about the device, for `announceBody`. */
export interface AnnounceFacts {
  maxPeers: number;
  ispHints?: { isp?: string; region?: string } | undefined;
  token: string | undefined;
  conditions: { wifi: boolean; charging: boolean; uploadAllowed: boolean };
  have: Bitfield | undefined;
  port: number;
  publicKey: Uint8Array;
  reachability: ReachabilityReport;
  candidates: AnnounceRequest['candidates'];
  tcpPort: number | undefined;
}

/**
 * An announce without the device id and release: the announcer adds both; the current-and-join call
 * names the device beside it and leaves the release to the tracker.
 */
export function announceBody(
  facts: AnnounceFacts,
  event: AnnounceRequest['event'],
): Omit<AnnounceRequest, 'release' | 'deviceId'> & { tcpPort?: number } {
  const { have, ispHints, token, conditions: cond, tcpPort } = facts;
  return {
    ...(token ? { deviceToken: token } : {}),
    event,
    port: facts.port,
    progress: have
      ? {
          have: have.count(),
          bitfield: Buffer.from(have.bytes).toString('base64'),
          complete: have.complete(),
        }
      : { have: 0, complete: false },
    reachability: facts.reachability,
    candidates: facts.candidates,
    publicKey: Buffer.from(facts.publicKey).toString('base64'),
    ...(ispHints && (ispHints.isp || ispHints.region) ? { ispHints } : {}),
    state: { wifi: cond.wifi, charging: cond.charging, uploadAllowed: cond.uploadAllowed },
    numwant: facts.maxPeers,
    ...(tcpPort ? { tcpPort } : {}),
  };
}

export interface AnnouncerComponents {
  clock: Clock;
  logger: Logger;
  tracker: TrackerClient;
  network: PeerNetwork;
  /** What we hold; undefined while the download is not open yet (announced as nothing). */
  have: () => Bitfield | undefined;
  reachability: () => ReachabilityReport;
  candidates: () => AnnounceRequest['candidates'];
  conditions: () => { wifi: boolean; charging: boolean; uploadAllowed: boolean };
  token: { get(): string | undefined; set(token: string): void };
  connectedPeers: () => number;
  /** Hole punching through the rendezvous; resolves with the address that answered, or null. */
  punch?: (deviceId: string) => Promise<{ host: string; port: number } | null>;
  onResponse: (response: AnnounceResponse) => void;
  /**
   * The TCP BitTorrent wire: its port is announced (so stock clients are told about us) and the
   * stock clients the tracker lists in `btPeers` are dialled over it.
   */
  tcp?: { port(): number; dial(peers: Address[]): void };
}

/** Stock BitTorrent clients dialled per announce answer (the TCP wire bounds the total). */
const BT_PEERS_PER_ANSWER = 8;

/** The tracker's `btPeers`, read defensively: an older tracker sends none, a broken one garbage. */
export function btPeersOf(response: unknown): Address[] {
  const list = (response as { btPeers?: unknown } | null)?.btPeers;
  if (!Array.isArray(list)) return [];
  const out: Address[] = [];
  for (const item of list) {
    const { host, port } = (item ?? {}) as { host?: unknown; port?: unknown };
    if (typeof host !== 'string' || host.length === 0 || host.length > 64) continue;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    out.push({ host, port });
  }
  return out;
}

/** Where bytes from a peer count: same ISP (lan / isp tiers) or another ISP. */
export function sourceClassOfTier(tier: RankedPeer['tier']): SourceClass {
  return tier === 'lan' || tier === 'isp-region' || tier === 'isp' ? 'peer-same-isp' : 'peer-other-isp';
}

/**
 * Announces to the tracker on its interval, dials the peers it hands out, and keeps going through
 * tracker outages (backoff) — the download itself never waits for the tracker.
 */
export function startAnnouncer(options: AnnouncerOptions, components: AnnouncerComponents) {
  const { clock, logger, tracker, network } = components;
  let timer: TimerHandle | undefined;
  let failures = 0;
  let stopped = false;
  const classes = new Map<string, SourceClass>();
  const punching = new Set<string>();
  // A tracker from before the TCP wire refuses the unknown field (400): then announce without it.
  let sendTcpPort = components.tcp !== undefined;

  const request = (event: AnnounceRequest['event']): AnnounceRequest & { tcpPort?: number } => ({
    ...announceBody(
      {
        maxPeers: options.maxPeers,
        ispHints: options.ispHints,
        token: components.token.get(),
        conditions: components.conditions(),
        have: components.have(),
        port: network.localAddress().port,
        publicKey: network.publicKey,
        reachability: components.reachability(),
        candidates: components.candidates(),
        tcpPort: sendTcpPort ? components.tcp?.port() : undefined,
      },
      event,
    ),
    deviceId: options.deviceId,
    release: options.release,
  });

  const dialPeers = (peers: RankedPeer[]): void => {
    let budget = options.maxPeers - components.connectedPeers();
    for (const peer of peers) {
      if (budget <= 0) break;
      let key: Uint8Array;
      try {
        key = new Uint8Array(Buffer.from(peer.publicKey, 'base64'));
      } catch {
        continue;
      }
      if (key.length !== 32) continue;
      const sourceClass = sourceClassOfTier(peer.tier);
      classes.set(peer.publicKey, sourceClass);
      const candidates =
        peer.reachableHow === 'lan'
          ? peer.candidates.filter((c) => c.type === 'host')
          : peer.candidates.filter((c) => c.type !== 'host');
      const ordered = candidates.length > 0 ? candidates : peer.candidates;
      const punch = components.punch;
      const viaRendezvous = (peer.reachableHow === 'punch' || peer.reachableHow === 'reverse') && punch;
      if (ordered.length === 0 && !viaRendezvous) continue;
      budget--;
      void (async () => {
        if (viaRendezvous) {
          if (network.hasPeer(options.infoHash, key) || punching.has(peer.deviceId)) return;
          punching.add(peer.deviceId);
          try {
            const remote = await punch(peer.deviceId);
            if (remote && !stopped)
              await network.dial(options.infoHash, { address: remote, publicKey: key, sourceClass }, 3000);
          } finally {
            punching.delete(peer.deviceId);
          }
          return;
        }
        for (const c of ordered) {
          if (stopped) return;
          const ok = await network.dial(
            options.infoHash,
            { address: { host: c.host, port: c.port }, publicKey: key, sourceClass },
            3000,
          );
          if (ok) return;
        }
      })();
    }
  };

  const accept = (event: AnnounceRequest['event'], response: AnnounceResponse): void => {
    failures = 0;
    logger.debug({ event, peers: response.peers.length, interval: response.interval }, 'announced');
    if (response.deviceToken) components.token.set(response.deviceToken);
    if (!stopped) {
      components.onResponse(response);
      dialPeers(response.peers);
      const bt = btPeersOf(response);
      if (components.tcp && bt.length > 0) components.tcp.dial(bt.slice(0, BT_PEERS_PER_ANSWER));
    }
  };

  const announce = async (event: AnnounceRequest['event']): Promise<AnnounceResponse | undefined> => {
    try {
      let response: AnnounceResponse;
      try {
        response = await tracker.announce(request(event));
      } catch (error) {
        if (!sendTcpPort || (error as { code?: string }).code !== 'BAD_REQUEST') throw error;
        sendTcpPort = false;
        logger.info('tracker does not take tcpPort: stock clients will not be told about our TCP port');
        response = await tracker.announce(request(event));
      }
      accept(event, response);
      return response;
    } catch (error) {
      failures++;
      logger.warn({ err: (error as Error).message, event }, 'announce failed');
      return undefined;
    }
  };

  const schedule = (delayMs: number): void => {
    if (stopped) return;
    timer = clock.setTimer(delayMs, () => {
      timer = undefined;
      void announce('update').then((response) => {
        const next = response
          ? Math.min(response.interval * 1000, options.maxIntervalMs)
          : Math.min(options.retryMs * 2 ** Math.min(failures - 1, 5), 300_000);
        schedule(Math.max(1000, next));
      });
    });
  };

  return {
    async start(): Promise<void> {
      const before = components.reachability().public;
      let response: AnnounceResponse | undefined;
      if (options.firstAnswer) {
        response = options.firstAnswer;
        accept('started', response);
      } else response = await announce('started');
      // The first answer may teach us our reachability (observed address): tell the tracker at once.
      if (response && components.reachability().public !== before)
        response = (await announce('update')) ?? response;
      schedule(
        response
          ? Math.max(1000, Math.min(response.interval * 1000, options.maxIntervalMs))
          : options.retryMs,
      );
    },
    /** An announce now (our reachability changed), keeping the schedule. */
    update: async (): Promise<void> => {
      if (!stopped) await announce('update');
    },
    /** An announce now (completed), keeping the schedule. */
    completed: () => announce('completed'),
    classify(remoteKey: Uint8Array): SourceClass {
      return classes.get(Buffer.from(remoteKey).toString('base64')) ?? 'peer-same-isp';
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      if (timer) clock.clearTimer(timer);
      timer = undefined;
      await announce('stopped');
    },
  };
}

export type Announcer = ReturnType<typeof startAnnouncer>;
