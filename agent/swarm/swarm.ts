import type { Duplex } from 'node:stream';
import type { Clock, Logger, Random } from '../../runtime/index.ts';
import type { Bitfield } from '../engine/bitfield.ts';
import type { DownloadEngine } from '../engine/download.ts';
import type { PieceLayout } from '../engine/layout.ts';
import type { PieceStore } from '../storage/piece-store.ts';
import type { SourceClass } from '../types.ts';
import { createChoker, DEFAULT_CHOKER_OPTIONS } from './choker.ts';
import { createPeerConnection, type PeerConnection, SOON_MS } from './peer.ts';
import { createUploadLimiter, type UploadLimiter } from './token-bucket.ts';

export interface SwarmOptions {
  /** Hex SHA-1 infohash of the release (the BitTorrent swarm identity). */
  infoHash: string;
  /** Our peer id, 40 hex chars (BitTorrent handshake). */
  peerId: string;
  /** Our id as peers know us (transport key based); breaks ties between simultaneous dials. */
  selfId: string;
  maxPeers: number;
  uploadSlots: number;
  /** Piece requests in flight per peer. */
  maxInFlightPerPeer: number;
  chokeIntervalMs?: number;
}

export interface SwarmComponents {
  clock: Clock;
  random: Random;
  logger: Logger;
  engine: DownloadEngine;
  store: PieceStore;
  have: Bitfield;
  layout: PieceLayout;
  limiter: UploadLimiter;
  uploadAllowed(): boolean;
}

export interface Swarm {
  readonly infoHash: string;
  /** Our BitTorrent peer id in this swarm (hex), so a listener can refuse a connection to ourselves. */
  readonly peerId: string;
  /** Attaches a connected stream (PZ stream, TCP socket, in-memory pair) as a peer; undefined when full. */
  addStream(
    stream: Duplex,
    peer: {
      id: string;
      sourceClass: SourceClass;
      /** We dialed the session. */
      initiator: boolean;
      /** We send the BitTorrent handshake first (default: the dialer does; peer.ts). */
      opensWire?: boolean;
      /** A newcomer that will want our pieces: it may take a free upload slot at once (peer.ts). */
      presumeInterest?: boolean;
      /** A stock BitTorrent client (TCP wire): the wire opens in the textbook order (peer.ts). */
      stock?: boolean;
    },
  ): PeerConnection | undefined;
  peers(): PeerConnection[];
  hasPeer(id: string): boolean;
  /** Bytes uploaded to peers over the life of this swarm. */
  uploaded(): number;
  /** Re-evaluates chokes now (device state or seeding policy changed). */
  rechoke(): void;
  close(): void;
}

export function createSwarm(options: SwarmOptions, components: SwarmComponents): Swarm {
  const { clock, random, logger, engine, have } = components;
  const peers = new Map<string, PeerConnection>();
  let closedUploads = 0;
  let closed = false;
  const choker = createChoker(
    {
      ...DEFAULT_CHOKER_OPTIONS,
      slots: options.uploadSlots,
      ...(options.chokeIntervalMs ? { intervalMs: options.chokeIntervalMs } : {}),
    },
    {
      clock,
      random,
      peers: () => peers.values(),
      seeding: () => have.complete(),
      uploadAllowed: () => components.uploadAllowed(),
    },
  );
  // Infrastructure claims (BEP 6 suggest) are relayed one hop: a device hears only its direct peers, so
  // without the relay a claim is invisible to the part of the swarm not connected to the claimer, and
  // those devices fetch the same piece from infrastructure again. Each piece is relayed at most once per
  // claim lifetime, which also stops relays from circling.
  const relayedAt = new Map<number, number>();
  const relayClaim = (index: number, from: string | undefined): void => {
    const now = clock.now();
    const last = relayedAt.get(index);
    if (last !== undefined && now - last < SOON_MS) return;
    relayedAt.set(index, now);
    for (const p of peers.values()) if (p.id !== from) p.announceSoon(index);
  };
  /**
   * Two devices that both hold the whole release have nothing to trade: the connection only takes one of
   * the `maxPeers` places on each side. Kept, a device that finished early sat at its peer limit with
   * other finished devices and turned away the newcomers it could serve: at 300 devices of nat444-1k's
   * mix, 56-59 % of a newcomer's first sessions got no answer to the handshake, and only 11-17 % of the
   * peers it reached held the whole release. BitTorrent clients drop seed-to-seed connections for the same reason.
   */
  const bothSeeding = (p: PeerConnection): boolean =>
    have.complete() && p.handshaken() && p.peerPieceCount() === components.layout.pieces.length;

  /**
   * At the peer limit, a new connection replaces one that carries nothing: neither side wants a piece
   * the other holds (a peer with nothing for us, while we have nothing it lacks). A newcomer that dials
   * us is interested in what we hold, or will be; the idle one can come back when either side has
   * something new.
   */
  const evictIdlePeer = (): boolean => {
    for (const p of peers.values())
      if (p.handshaken() && !p.peerInterested() && !p.amInterested()) {
        p.close('replaced by a new peer (idle)');
        return true;
      }
    return false;
  };

  const unsubscribe = engine.on((event) => {
    if (event.type === 'complete') {
      for (const p of [...peers.values()]) if (bothSeeding(p)) p.close('both hold the release');
    } else if (event.type === 'piece') for (const p of peers.values()) p.announceHave(event.index);
    else if (event.type === 'infra-request') {
      relayedAt.delete(event.index);
      relayClaim(event.index, undefined);
    }
  });
  choker.start();

  return {
    infoHash: options.infoHash,
    peerId: options.peerId,
    addStream(stream, peer) {
      const existing = peers.get(peer.id);
      if (existing) {
        // Both sides dialled at once: keep the session dialled by the smaller id, on both ends alike.
        const newDialer = peer.initiator ? options.selfId : peer.id;
        const oldDialer = existing.initiator ? options.selfId : peer.id;
        if (newDialer === oldDialer || oldDialer < newDialer) {
          stream.destroy();
          return undefined;
        }
        existing.close('replaced by simultaneous dial');
      }
      if (closed || engine.isBanned(peer.id) || (peers.size >= options.maxPeers && !evictIdlePeer())) {
        stream.destroy();
        return undefined;
      }
      const connection = createPeerConnection(
        stream,
        {
          id: peer.id,
          sourceClass: peer.sourceClass,
          infoHash: options.infoHash,
          peerId: options.peerId,
          initiator: peer.initiator,
          ...(peer.opensWire !== undefined ? { opensWire: peer.opensWire } : {}),
          ...(peer.presumeInterest ? { presumeInterest: true } : {}),
          maxInFlight: options.maxInFlightPerPeer,
          ...(peer.stock ? { textbookOpening: true } : {}),
        },
        {
          clock,
          logger,
          layout: components.layout,
          store: components.store,
          have,
          limiter: components.limiter,
          uploadAllowed: () => components.uploadAllowed(),
        },
      );
      peers.set(peer.id, connection);
      connection.onChange(() => {
        if (bothSeeding(connection)) connection.close('both hold the release');
      });
      connection.onClose(() => {
        if (peers.get(peer.id) !== connection) return;
        peers.delete(peer.id);
        closedUploads += connection.uploaded();
        engine.removeSource(peer.id, 'peer closed');
      });
      connection.onInterest(() => choker.onInterest());
      connection.onSoon((index) => {
        if (!have.get(index)) relayClaim(index, peer.id);
      });
      engine.addSource(connection);
      // A free slot goes to a presumed-interested newcomer now, so the unchoke leaves with our opening.
      if (peer.presumeInterest) choker.onInterest();
      return connection;
    },
    peers: () => [...peers.values()],
    hasPeer: (id) => peers.has(id),
    uploaded() {
      let total = closedUploads;
      for (const p of peers.values()) total += p.uploaded();
      return total;
    },
    rechoke: () => choker.rechoke(),
    close() {
      if (closed) return;
      closed = true;
      choker.stop();
      unsubscribe();
      for (const p of [...peers.values()]) p.close('swarm closed');
    },
  };
}

export { createUploadLimiter };
