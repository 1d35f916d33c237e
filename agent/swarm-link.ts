import type { ReachabilityReport } from '../nat/report.ts';
import type { Address, Clock, Logger } from '../runtime/index.ts';
import type { AnnounceRequest, AnnounceResponse } from '../tracker/index.ts';
import type { Bitfield } from './engine/bitfield.ts';
import { type Announcer, startAnnouncer } from './net/announcer.ts';
import type { PeerNetwork } from './net/peer-network.ts';
import type { TcpWire } from './net/tcp-wire.ts';
import type { TrackerClient } from './net/tracker-client.ts';
import type { Traversal } from './net/traversal.ts';
import type { Swarm } from './swarm/swarm.ts';
import type { SourceClass } from './types.ts';

export interface SwarmLinkOptions {
  /** Release id (`product@version`) and infohash of the swarm, from the tracker or the manifest. */
  release: string;
  infoHash: string;
  deviceId: string;
  maxPeers: number;
  ispHints: { isp?: string; region?: string };
  /** The answer to the announce the tracker's current-and-join call made for us (see AnnouncerOptions). */
  firstAnswer?: AnnounceResponse;
}

export interface SwarmLinkComponents {
  clock: Clock;
  logger: Logger;
  tracker: TrackerClient;
  network: PeerNetwork;
  traversal: Traversal | undefined;
  tcp: TcpWire | undefined;
  reachability: () => ReachabilityReport;
  candidates: () => AnnounceRequest['candidates'];
  token: { get(): string | undefined; set(token: string): void };
  /** Device conditions to announce until the download (and its seeding policy) is attached. */
  conditions: () => { wifi: boolean; charging: boolean; uploadAllowed: boolean };
  punchStats: { punches: number; punched: number };
  /** Every announce answer, at once (what does not need the download: our observed address). */
  onAnswer: (response: AnnounceResponse) => void;
}

/** The open download a link serves once its manifest is verified. */
export interface AttachedDownload {
  have: Bitfield;
  swarm: Swarm;
  conditions: () => { wifi: boolean; charging: boolean; uploadAllowed: boolean };
  /** Applies an announce answer to the download (swarm size, edges, CDN URLs, rarity). */
  apply: (response: AnnounceResponse) => void;
}

export interface ManifestFromPeers {
  bytes: Uint8Array;
  /** Bytes received from peers for it (the delivering peer's, and any refused answer's). */
  receivedBytes: number;
  sourceClass: SourceClass;
}

export interface SwarmLink {
  readonly release: string;
  readonly infoHash: string;
  readonly announcer: Announcer;
  /** Settles after the first announce (answered or not). */
  readonly started: Promise<void>;
  /** When the tracker first answered (clock ms), if it has. */
  answeredAt(): number | undefined;
  /**
   * The manifest pinned by `sha256` from the swarm's peers (manifest-exchange.ts), within `budgetMs`;
   * undefined at once when the tracker's first answer suggests no peer holds it yet (see below).
   */
  fetchManifest(sha256: string, budgetMs: number): Promise<ManifestFromPeers | undefined>;
  /** We hold the verified manifest: the swarm's peers may fetch it from us (when the device may upload). */
  provideManifest(bytes: Uint8Array): void;
  /** The download is open: its swarm takes the sessions, and the answers so far are applied to it. */
  attach(download: AttachedDownload): void;
  /** Leaves the swarm: sessions waiting for it are refused, the tracker hears "stopped". */
  close(): Promise<void>;
}

/**
 * Membership of one release's swarm: the announcer, and the peer network's routing of sessions to the
 * swarm. It can open before the download does — the tracker's `current` answer names the release and
 * its infohash while the manifest is still on the way — so the announce, the NAT round trips and the
 * peer sessions overlap the manifest download instead of following it: in a flash crowd the manifest
 * (through a CDN every device hits at once) is the longest step of start-up. Until the download is
 * attached the device announces that it holds nothing, and peer sessions wait (peer-network `expect`).
 */
export function openSwarmLink(options: SwarmLinkOptions, components: SwarmLinkComponents): SwarmLink {
  const { network, traversal: trav, tcp } = components;
  const cancelExpected = network.expect(options.infoHash);
  let attached: AttachedDownload | undefined;
  let unregister: (() => void) | undefined;
  let closed = false;
  const answers: AnnounceResponse[] = [];
  let firstAnswerAt: number | undefined;
  /** Whether the first answer listed a peer that holds pieces, or seeders: then someone holds the manifest. */
  let manifestLikely = false;
  const tcpQueue: Address[] = [];

  const announcer = startAnnouncer(
    {
      release: options.release,
      infoHash: options.infoHash,
      deviceId: options.deviceId,
      maxPeers: options.maxPeers,
      retryMs: 5000,
      maxIntervalMs: 30_000,
      ispHints: options.ispHints,
      ...(options.firstAnswer ? { firstAnswer: options.firstAnswer } : {}),
    },
    {
      clock: components.clock,
      logger: components.logger,
      tracker: components.tracker,
      network,
      have: () => attached?.have,
      reachability: components.reachability,
      candidates: components.candidates,
      conditions: () => (attached ?? components).conditions(),
      token: components.token,
      connectedPeers: () => attached?.swarm.peers().length ?? 0,
      ...(trav
        ? {
            punch: async (peerDeviceId: string) => {
              components.punchStats.punches++;
              const remote = await trav.punch(peerDeviceId);
              if (remote) components.punchStats.punched++;
              return remote;
            },
          }
        : {}),
      ...(tcp
        ? {
            tcp: {
              port: () => tcp.localAddress().port,
              dial: (peers: Address[]) => {
                if (!attached) tcpQueue.push(...peers);
                else for (const p of peers) void tcp.dial(options.infoHash, p);
              },
            },
          }
        : {}),
      onResponse: (response) => {
        if (firstAnswerAt === undefined) {
          manifestLikely = response.swarm.seeders > 0 || response.peers.some((p) => p.have > 0);
          // Said before the dials this answer starts, so that holders push it as the sessions open.
          if (manifestLikely && !attached) network.wantManifest(options.infoHash);
        }
        firstAnswerAt ??= components.clock.now();
        const token = components.token.get() ?? response.deviceToken;
        if (trav && token)
          void trav.register({ deviceId: options.deviceId, deviceToken: token, release: options.release });
        components.onAnswer(response);
        if (attached) attached.apply(response);
        else answers.push(response);
      },
    },
  );
  const started = announcer.start();
  // The probe runs beside the download; once it answered, the tracker hears what it learned.
  if (trav) void started.then(() => trav.probed).then(() => (closed ? undefined : announcer.update()));
  // ... and again if a port mapping made after the probe makes us reachable.
  const stopFollowing = trav?.onReachabilityChange(() => {
    if (!closed) void announcer.update();
  });

  return {
    release: options.release,
    infoHash: options.infoHash,
    announcer,
    started,
    answeredAt: () => firstAnswerAt,
    async fetchManifest(sha256, budgetMs) {
      const { clock } = components;
      const deadline = clock.now() + budgetMs;
      // The tracker's answer tells whether anyone listed can hold the manifest; peers that joined as
      // early as we did (no pieces, no seeders) are still fetching it themselves, so waiting for them
      // only delays the start: the first devices of a swarm take it from the CDN at once.
      if (firstAnswerAt === undefined) await waitFor(clock, started, budgetMs);
      if (closed || !manifestLikely) return undefined;
      const got = await network.fetchManifest(options.infoHash, {
        sha256,
        budgetMs: Math.max(0, deadline - clock.now()),
      });
      if (!got) return undefined;
      return {
        bytes: got.bytes,
        receivedBytes: got.receivedBytes,
        sourceClass: announcer.classify(got.remoteKey),
      };
    },
    provideManifest(bytes) {
      // Serving it is uploading: the same Wi-Fi / power policy as the pieces.
      if (!closed)
        network.provideManifest(
          options.infoHash,
          bytes,
          () => (attached ?? components).conditions().uploadAllowed,
        );
    },
    attach(download) {
      if (closed || attached) return;
      attached = download;
      unregister = network.register(download.swarm, (key) => announcer.classify(key));
      for (const response of answers.splice(0)) download.apply(response);
      for (const p of tcpQueue.splice(0)) void tcp?.dial(options.infoHash, p);
      // Announced as holding nothing so far: a resumed download tells the tracker what it has.
      if (download.have.count() > 0) void announcer.update();
    },
    async close() {
      if (closed) return;
      closed = true;
      stopFollowing?.();
      cancelExpected();
      network.forgetManifest(options.infoHash);
      unregister?.();
      await announcer.stop();
    },
  };
}

/** Waits for `promise`, at most `ms`. */
function waitFor(clock: Clock, promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = clock.setTimer(ms, resolve);
    void promise.finally(() => {
      clock.clearTimer(timer);
      resolve();
    });
  });
}
