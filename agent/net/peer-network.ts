import type { Duplex } from 'node:stream';
import type { Address, Clock, Logger, Random, UdpSocket } from '../../runtime/index.ts';
import {
  type Connection,
  createEndpoint,
  createRateHistory,
  type Endpoint,
  type EndpointOptions,
  type RateHistory,
} from '../../transport/index.ts';
import type { Swarm } from '../swarm/swarm.ts';
import type { SourceClass } from '../types.ts';
import {
  createManifestExchange,
  type ManifestFetchOptions,
  type ManifestFromPeer,
} from './manifest-exchange.ts';

/**
 * The agent's one PZ endpoint on its one UDP socket: dials peers for a swarm and routes inbound
 * sessions to the right swarm. The dialer names the swarm (infohash) in the handshake's init payload,
 * so the acceptor knows where a session belongs before any BitTorrent byte flows. Peers are identified
 * by their transport static key (authenticated by the handshake), never by anything they claim.
 */
export interface PeerNetwork {
  readonly endpoint: Endpoint;
  readonly publicKey: Uint8Array;
  localAddress(): Address;
  /** True when the swarm already has a session with this peer. */
  hasPeer(infoHash: string, publicKey: Uint8Array): boolean;
  register(swarm: Swarm, classify: (remoteKey: Uint8Array, remote: Address) => SourceClass): () => void;
  /**
   * A swarm that will be registered soon (its manifest is still on the way): until then, or until the
   * returned cancel is called, dials for it open their sessions and inbound sessions for it wait,
   * instead of being refused. The peer connections form while the manifest downloads.
   */
  expect(infoHash: string): () => void;
  dial(
    infoHash: string,
    remote: { address: Address; publicKey: Uint8Array; sourceClass: SourceClass },
    timeoutMs?: number,
  ): Promise<boolean>;
  /** We hold the swarm's verified signed manifest: its peer sessions may fetch it from us (manifest-exchange.ts). */
  provideManifest(infoHash: string, bytes: Uint8Array, mayUpload?: () => boolean): void;
  forgetManifest(infoHash: string): void;
  /** We mean to take the swarm's manifest from peers: our session handshakes say so from now on. */
  wantManifest(infoHash: string): void;
  /** The swarm's manifest from its peer sessions, pinned by SHA-256; undefined when none delivered in time. */
  fetchManifest(infoHash: string, options: ManifestFetchOptions): Promise<ManifestFromPeer | undefined>;
  /** Peer sessions so far: dials attempted / that became a peer, inbound sessions accepted as peers. */
  connectionStats(): PeerConnectionStats;
  close(): Promise<void>;
}

export interface PeerConnectionStats {
  dialed: number;
  dialedOk: number;
  accepted: number;
  /** Peers caught handing over a manifest other than the pinned one (refused for that swarm since). */
  badManifests: number;
}

export function peerIdOfKey(publicKey: Uint8Array): string {
  return `peer:${Buffer.from(publicKey).toString('base64')}`;
}

/**
 * A peer session's first window, in 1,200-byte packets. A session exists to move 64 KiB pieces (55
 * packets) in answer to requests, and most sessions of a flash crowd open before their uploader has
 * a remembered rate for smart start. From RFC 9002's 10 packets a piece takes four round trips (10,
 * 20, 40: even the first 16 KiB block needs two), from 32 it takes two; the window is paced over the
 * handshake's RTT (1.25 x cwnd / RTT: ~1.2 Mbit/s at 320 ms, ~15 Mbit/s at 25 ms), so it is no burst,
 * and on a shared home uplink the adaptive controller halves it at the first loss with a queue
 * behind it. nat444-1k (scratch runs, tracker answers gzipped in both): p95 completion 5.22 s with 20
 * packets and 4.52 s with 32, p50 2.09 / 2.07 s, infrastructure 2.36 / 2.21 copies, 93 % of peer bytes
 * inside the ISP either way; at 300 devices median completion -8 % from 10 packets.
 */
export const PEER_INITIAL_WINDOW_PACKETS = 32;

const enc = new TextEncoder();
const dec = new TextDecoder();
const WANT_MANIFEST = enc.encode(JSON.stringify({ want: 'manifest' }));
/**
 * The acceptor's answer to a newcomer that wants the manifest, when the acceptor holds it: "I open the
 * BitTorrent wire". The dialer's wire cannot start before its manifest arrives (the swarm needs the
 * piece count), so in the dialer-opens order its first request left a round trip after the manifest:
 * opening out, the acceptor's handshake, bitfield and unchoke back. Opened by the acceptor as the
 * session opens, those ride with the pushed manifest, and the dialer requests as soon as it has read it.
 */
const OPENS_WIRE = enc.encode(JSON.stringify({ opens: 'wire' }));

/**
 * The handshake payloads, read defensively: `swarm` (dialer), whether the sender wants the manifest,
 * and whether the acceptor opens the BitTorrent wire.
 */
function readInit(bytes: Uint8Array | undefined): {
  swarm?: string;
  wantsManifest: boolean;
  opensWire: boolean;
} {
  try {
    const payload = bytes
      ? (JSON.parse(dec.decode(bytes)) as { swarm?: unknown; want?: unknown; opens?: unknown })
      : {};
    return {
      ...(typeof payload.swarm === 'string' ? { swarm: payload.swarm } : {}),
      wantsManifest: payload.want === 'manifest',
      opensWire: payload.opens === 'wire',
    };
  } catch {
    return { wantsManifest: false, opensWire: false };
  }
}

export function createPeerNetwork(
  options: {
    staticPrivateKey: Uint8Array;
    /** Smart start: the uplink's context (config.ts peerNetworkContext); unset disables it. */
    networkContext?: EndpointOptions['networkContext'];
    /** Where smart start remembers rates; default: one for this network (the agent's one socket). */
    rateHistory?: RateHistory;
    congestion?: EndpointOptions['congestion'];
  },
  components: { socket: UdpSocket; clock: Clock; random: Random; logger: Logger },
): PeerNetwork {
  const endpoint = createEndpoint(
    {
      staticPrivateKey: options.staticPrivateKey,
      // The acceptor's half of the manifest exchange's handshake: whether we still want the manifest,
      // or, to a newcomer that wants it from us, that we open the wire (OPENS_WIRE).
      onInit: (payload) => {
        const init = readInit(payload);
        const swarm = init.swarm;
        if (swarm === undefined) return undefined;
        if (manifests.wants(swarm)) return WANT_MANIFEST;
        return init.wantsManifest && swarms.has(swarm) ? OPENS_WIRE : undefined;
      },
      ...(options.congestion ? { congestion: options.congestion } : {}),
      // Peer traffic is request/response: a sender runs out of data after every piece, and tail repair
      // would then fill the uplink (the swarm's bottleneck) with repair packets each time. A lost tail
      // packet costs one retransmission instead.
      tailRepair: false,
      initialWindowPackets: PEER_INITIAL_WINDOW_PACKETS,
      // Every peer session starts from its share of the rate the uplink delivered to earlier ones
      // instead of its first window: on an idle uplink a piece to a peer 240 ms away takes about one round
      // trip instead of three (test/transport/smart-start.test.ts).
      ...(options.networkContext
        ? { networkContext: options.networkContext, rateHistory: options.rateHistory ?? createRateHistory() }
        : {}),
    },
    components,
  );
  const swarms = new Map<
    string,
    { swarm: Swarm; classify: (remoteKey: Uint8Array, remote: Address) => SourceClass }
  >();
  const logger = components.logger;
  const stats: PeerConnectionStats = { dialed: 0, dialedOk: 0, accepted: 0, badManifests: 0 };
  /** `${infoHash}/${peerId}` of peers caught lying about the swarm's manifest: refused in that swarm. */
  const banned = new Set<string>();
  const manifests = createManifestExchange(
    { clock: components.clock, logger },
    {
      expecting: (infoHash) => swarms.has(infoHash) || expected.has(infoHash),
      onBadPeer: (infoHash, connection, reason) => {
        const id = peerIdOfKey(connection.remoteStaticKey);
        logger.warn({ peer: id, reason }, 'peer refused');
        stats.badManifests++;
        banned.add(`${infoHash}/${id}`);
        connection.close(0, reason);
      },
    },
  );
  type Entry = { swarm: Swarm; classify: (remoteKey: Uint8Array, remote: Address) => SourceClass };
  /** Swarms expected soon, with whoever waits for their registration. */
  const expected = new Map<string, Array<(entry: Entry | undefined) => void>>();
  /** Dials under way, so that two announces before the swarm exists do not dial the same peer twice. */
  const dialing = new Set<string>();
  const whenRegistered = (infoHash: string): Promise<Entry | undefined> => {
    const entry = swarms.get(infoHash);
    if (entry) return Promise.resolve(entry);
    const waiters = expected.get(infoHash);
    if (!waiters) return Promise.resolve(undefined);
    return new Promise((resolve) => waiters.push(resolve));
  };
  const settleExpected = (infoHash: string, entry: Entry | undefined): void => {
    const waiters = expected.get(infoHash);
    expected.delete(infoHash);
    for (const w of waiters ?? []) w(entry);
  };

  endpoint.onConnection((connection: Connection) => {
    const init = readInit(connection.initPayload);
    const infoHash = init.swarm;
    if (infoHash === undefined || (!swarms.has(infoHash) && !expected.has(infoHash))) {
      connection.close(0, 'unknown swarm');
      return;
    }
    if (banned.has(`${infoHash}/${peerIdOfKey(connection.remoteStaticKey)}`)) {
      connection.close(0, 'refused');
      return;
    }
    const swarmId = infoHash;
    manifests.addSession(swarmId, connection, init.wantsManifest);
    // The wire is ours to open (we answered OPENS_WIRE): it leaves now, with the pushed manifest.
    if (readInit(connection.initReply).opensWire) {
      connection.onStream((other) => other.destroy());
      const entry = swarms.get(swarmId);
      let stream: ReturnType<Connection['openStream']> | undefined;
      try {
        stream = entry ? connection.openStream() : undefined;
      } catch {
        // closed meanwhile
      }
      if (entry && stream) attachInbound(entry, connection, stream, true);
      else connection.close(0, 'swarm gone');
      return;
    }
    let accepted = false;
    connection.onStream(async (stream) => {
      if (accepted) {
        stream.destroy();
        return;
      }
      accepted = true;
      const entry = await whenRegistered(swarmId);
      if (!entry || stream.destroyed) {
        stream.destroy();
        connection.close(0, 'unknown swarm');
        return;
      }
      // The dialer's one stream carries the BitTorrent wire both ways.
      attachInbound(entry, connection, stream, false);
    });
  });

  /**
   * An inbound session's stream as a peer of its swarm: opened by the dialer, or by us for a newcomer
   * (`weOpen`: we send the handshake first and presume its interest).
   */
  function attachInbound(entry: Entry, connection: Connection, stream: Duplex, weOpen: boolean): void {
    const peer = entry.swarm.addStream(stream, {
      id: peerIdOfKey(connection.remoteStaticKey),
      sourceClass: entry.classify(connection.remoteStaticKey, connection.remoteAddress()),
      initiator: false,
      ...(weOpen ? { opensWire: true, presumeInterest: true } : {}),
    });
    if (peer) {
      stats.accepted++;
      peer.onClose(() => connection.close(0, 'peer closed'));
    } else connection.close(0, 'not accepted');
  }

  return {
    endpoint,
    publicKey: endpoint.publicKey,
    localAddress: () => endpoint.localAddress(),
    hasPeer: (infoHash, publicKey) => swarms.get(infoHash)?.swarm.hasPeer(peerIdOfKey(publicKey)) ?? false,
    register(swarm, classify) {
      const entry = { swarm, classify };
      swarms.set(swarm.infoHash, entry);
      settleExpected(swarm.infoHash, entry);
      return () => {
        if (swarms.get(swarm.infoHash)?.swarm === swarm) swarms.delete(swarm.infoHash);
      };
    },
    expect(infoHash) {
      if (!swarms.has(infoHash) && !expected.has(infoHash)) expected.set(infoHash, []);
      return () => {
        if (!swarms.has(infoHash)) settleExpected(infoHash, undefined);
      };
    },
    async dial(infoHash, remote, timeoutMs = 5000) {
      if (!swarms.has(infoHash) && !expected.has(infoHash)) return false;
      const id = peerIdOfKey(remote.publicKey);
      if (swarms.get(infoHash)?.swarm.hasPeer(id)) return true;
      const key = `${infoHash}/${id}`;
      if (dialing.has(key) || banned.has(key)) return false;
      dialing.add(key);
      try {
        return await dialOnce(infoHash, id, remote, timeoutMs);
      } finally {
        dialing.delete(key);
      }
    },
    provideManifest: (infoHash, bytes, mayUpload) => manifests.provide(infoHash, bytes, mayUpload),
    forgetManifest: (infoHash) => manifests.forget(infoHash),
    wantManifest: (infoHash) => manifests.want(infoHash),
    fetchManifest: (infoHash, options) => manifests.fetch(infoHash, options),
    connectionStats: () => ({ ...stats }),
    close: () => endpoint.close(),
  };

  /**
   * The first stream the acceptor opens on a session (later ones are destroyed); undefined when the
   * session closes or none comes within `timeoutMs`. Its bytes wait in the stream until it is read.
   */
  function firstStream(connection: Connection, timeoutMs: number): Promise<Duplex | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (stream: Duplex | undefined): void => {
        if (settled) {
          stream?.destroy();
          return;
        }
        settled = true;
        components.clock.clearTimer(timer);
        offClose();
        resolve(stream);
      };
      const timer = components.clock.setTimer(timeoutMs, () => settle(undefined));
      const offClose = connection.onClose(() => settle(undefined));
      connection.onStream((stream) => settle(stream));
    });
  }

  async function dialOnce(
    infoHash: string,
    id: string,
    remote: { address: Address; publicKey: Uint8Array; sourceClass: SourceClass },
    timeoutMs: number,
  ): Promise<boolean> {
    stats.dialed++;
    let connection: Connection;
    try {
      connection = await endpoint.connect(remote.address, remote.publicKey, {
        initPayload: enc.encode(
          JSON.stringify({ swarm: infoHash, ...(manifests.wants(infoHash) ? { want: 'manifest' } : {}) }),
        ),
        timeoutMs,
      });
    } catch (error) {
      logger.debug({ peer: id, err: (error as Error).message }, 'dial failed');
      return false;
    }
    const reply = readInit(connection.initReply);
    manifests.addSession(infoHash, connection, reply.wantsManifest);
    // The acceptor opens the wire (OPENS_WIRE): its stream may arrive before our manifest does.
    const theirs = reply.opensWire ? firstStream(connection, timeoutMs) : undefined;
    const entry = await whenRegistered(infoHash);
    if (!entry || banned.has(`${infoHash}/${id}`)) {
      connection.close(0, 'swarm gone');
      return false;
    }
    let stream: ReturnType<Connection['openStream']> | undefined;
    if (theirs) stream = await theirs;
    else
      try {
        stream = connection.openStream();
        // One stream per session, opened by the dialer; anything else the acceptor opens is not ours.
        connection.onStream((other) => other.destroy());
      } catch {
        // The session ended while it waited for the manifest (the peer left, or went idle).
      }
    if (!stream || stream.destroyed) {
      connection.close(0, 'no wire');
      return false;
    }
    const peer = entry.swarm.addStream(stream, {
      id,
      sourceClass: remote.sourceClass,
      initiator: true,
      opensWire: !theirs,
    });
    if (!peer) {
      connection.close(0, 'not accepted');
      return false;
    }
    stats.dialedOk++;
    peer.onClose(() => connection.close(0, 'peer closed'));
    return true;
  }
}
