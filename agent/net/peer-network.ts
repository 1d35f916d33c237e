import type { Address, Clock, Logger, Random, UdpSocket } from '../../runtime/index.ts';
import {
  type Connection,
  createEndpoint,
  type Endpoint,
  type EndpointOptions,
} from '../../transport/index.ts';
import type { Swarm } from '../swarm/swarm.ts';
import type { SourceClass } from '../types.ts';

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
  dial(
    infoHash: string,
    remote: { address: Address; publicKey: Uint8Array; sourceClass: SourceClass },
    timeoutMs?: number,
  ): Promise<boolean>;
  /** Peer sessions so far: dials attempted / that became a peer, inbound sessions accepted as peers. */
  connectionStats(): PeerConnectionStats;
  close(): Promise<void>;
}

export interface PeerConnectionStats {
  dialed: number;
  dialedOk: number;
  accepted: number;
}

export function peerIdOfKey(publicKey: Uint8Array): string {
  return `peer:${Buffer.from(publicKey).toString('base64')}`;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function createPeerNetwork(
  options: {
    staticPrivateKey: Uint8Array;
    networkContext?: string;
    congestion?: EndpointOptions['congestion'];
  },
  components: { socket: UdpSocket; clock: Clock; random: Random; logger: Logger },
): PeerNetwork {
  const endpoint = createEndpoint(
    {
      staticPrivateKey: options.staticPrivateKey,
      ...(options.congestion ? { congestion: options.congestion } : {}),
      // Peer traffic is request/response: a sender runs out of data after every piece, and tail repair
      // would then fill the uplink (the swarm's bottleneck) with repair packets each time. A lost tail
      // packet costs one retransmission instead.
      tailRepair: false,
      ...(options.networkContext ? { networkContext: options.networkContext } : {}),
    },
    components,
  );
  const swarms = new Map<
    string,
    { swarm: Swarm; classify: (remoteKey: Uint8Array, remote: Address) => SourceClass }
  >();
  const logger = components.logger;
  const stats: PeerConnectionStats = { dialed: 0, dialedOk: 0, accepted: 0 };

  endpoint.onConnection((connection: Connection) => {
    let infoHash: string | undefined;
    try {
      const payload = connection.initPayload
        ? (JSON.parse(dec.decode(connection.initPayload)) as { swarm?: unknown })
        : {};
      if (typeof payload.swarm === 'string') infoHash = payload.swarm;
    } catch {
      // not a peer session (or garbage): close below
    }
    const entry = infoHash ? swarms.get(infoHash) : undefined;
    if (!entry) {
      connection.close(0, 'unknown swarm');
      return;
    }
    let accepted = false;
    connection.onStream((stream) => {
      if (accepted) {
        stream.destroy();
        return;
      }
      accepted = true;
      // The dialer's one stream carries the BitTorrent wire both ways.
      const peer = entry.swarm.addStream(stream, {
        id: peerIdOfKey(connection.remoteStaticKey),
        sourceClass: entry.classify(connection.remoteStaticKey, connection.remoteAddress()),
        initiator: false,
      });
      if (peer) {
        stats.accepted++;
        peer.onClose(() => connection.close(0, 'peer closed'));
      } else connection.close(0, 'not accepted');
    });
  });

  return {
    endpoint,
    publicKey: endpoint.publicKey,
    localAddress: () => endpoint.localAddress(),
    hasPeer: (infoHash, publicKey) => swarms.get(infoHash)?.swarm.hasPeer(peerIdOfKey(publicKey)) ?? false,
    register(swarm, classify) {
      swarms.set(swarm.infoHash, { swarm, classify });
      return () => {
        if (swarms.get(swarm.infoHash)?.swarm === swarm) swarms.delete(swarm.infoHash);
      };
    },
    async dial(infoHash, remote, timeoutMs = 5000) {
      const entry = swarms.get(infoHash);
      if (!entry) return false;
      const id = peerIdOfKey(remote.publicKey);
      if (entry.swarm.hasPeer(id)) return true;
      stats.dialed++;
      let connection: Connection;
      try {
        connection = await endpoint.connect(remote.address, remote.publicKey, {
          initPayload: enc.encode(JSON.stringify({ swarm: infoHash })),
          timeoutMs,
        });
      } catch (error) {
        logger.debug({ peer: id, err: (error as Error).message }, 'dial failed');
        return false;
      }
      const stream = connection.openStream();
      // One stream per session, opened by the dialer; anything else the acceptor opens is not ours.
      connection.onStream((other) => other.destroy());
      const peer = entry.swarm.addStream(stream, {
        id,
        sourceClass: remote.sourceClass,
        initiator: true,
      });
      if (!peer) {
        connection.close(0, 'not accepted');
        return false;
      }
      stats.dialedOk++;
      peer.onClose(() => connection.close(0, 'peer closed'));
      return true;
    },
    connectionStats: () => ({ ...stats }),
    close: () => endpoint.close(),
  };
}
