import type { Duplex } from 'node:stream';
import Wire from 'bittorrent-protocol';
import type { Clock, Logger, TimerHandle } from '../../runtime/index.ts';
import type { Bitfield } from '../engine/bitfield.ts';
import { type PieceLayout, pieceBounds } from '../engine/layout.ts';
import { RateEstimator } from '../engine/rate.ts';
import type { PieceStore } from '../storage/piece-store.ts';
import type { PieceSource, SourceClass } from '../types.ts';
import { createFrameGuard } from './frame-guard.ts';
import type { UploadLimiter } from './token-bucket.ts';

/** BitTorrent block size: what every client requests and serves. */
export const BLOCK = 16 * 1024;
/** Largest block we serve; bigger requests are a protocol abuse (BEP 3 clients close at 128 KiB). */
const MAX_REQUEST = 128 * 1024;
/**
 * Longest message we accept from a peer: a bitfield of a huge release or a 128 KiB block with room to
 * spare. Anything longer is an attack on memory (the wire buffers whole messages).
 */
const MAX_MESSAGE = 1024 * 1024;
/** How long a "suggest" (peer fetching a piece from infrastructure) counts as "coming soon". */
export const SOON_MS = 30_000;
/**
 * Haves and suggests to one peer wait up to this long to leave together. Sent one by one, each is its
 * own datagram (and its own ACK back): in a 50-device crowd every claim is relayed by every device to
 * every peer, and the start-up seconds carried ~5,000 such datagrams per device per second — a third
 * of every uplink, exactly while the first pieces were trying to spread. Requests, chokes and interest
 * are not held back: they gate data.
 */
export const CONTROL_BATCH_MS = 25;
/**
 * Haves to a peer already interested in us wait longer: they change no decision at once (it asks us
 * for pieces anyway) and, one per piece to every peer, they were the bulk of a crowd's small
 * datagrams — each with its ACK coming back.
 */
export const HAVE_BATCH_MS = 100;
/**
 * How long a presumed interest (PeerConnectionOptions.presumeInterest) holds a slot without the peer
 * saying it is interested: it says so in its first flight, a round trip after our opening, when it
 * wants anything we hold.
 */
export const PRESUMED_INTEREST_MS = 5_000;

/** The typed subset of bittorrent-protocol's Wire we use (its bundled typings are for v3). */
interface WireLike {
  peerPieces: { get(index: number): boolean };
  peerChoking: boolean;
  peerInterested: boolean;
  amChoking: boolean;
  amInterested: boolean;
  hasFast: boolean;
  destroyed: boolean;
  handshake(infoHash: string, peerId: string, extensions?: { fast?: boolean }): void;
  bitfield(bytes: Uint8Array): void;
  have(index: number): void;
  choke(): void;
  unchoke(): void;
  interested(): void;
  uninterested(): void;
  request(
    index: number,
    offset: number,
    length: number,
    cb: (err: Error | null, block?: Uint8Array) => void,
  ): void;
  cancel(index: number, offset: number, length: number): void;
  suggest(index: number): void;
  destroy(): void;
  write(chunk: Uint8Array): boolean;
  pause(): void;
  resume(): void;
  on(event: string, handler: (...args: never[]) => void): void;
  once(event: string, handler: (...args: never[]) => void): void;
}

export interface PeerConnectionOptions {
  id: string;
  sourceClass: SourceClass;
  infoHash: string;
  /** Our 20-byte peer id, hex. */
  peerId: string;
  /** We dialed the session (breaks ties between simultaneous dials; see swarm.ts). */
  initiator: boolean;
  /**
   * We send the BitTorrent handshake first; the other side answers once it has seen ours. Default: the
   * dialer opens. A PZ acceptor opens instead for a newcomer still fetching the manifest (peer-network.ts).
   */
  opensWire?: boolean;
  /**
   * Count the peer as interested until it says otherwise (or for PRESUMED_INTEREST_MS): a newcomer that
   * asked us for the manifest wants pieces, so a free upload slot is granted in our opening instead of a
   * round trip after its interest arrives.
   */
  presumeInterest?: boolean;
  maxInFlight: number;
  /**
   * Open in the textbook order (our bitfield after the peer's handshake, interest after its bitfield)
   * instead of in one flight. Stock clients over the TCP wire get it: aria2c never served an agent
   * whose bitfield and interest arrived before aria2c had sent its own handshake.
   */
  textbookOpening?: boolean;
}

export interface PeerComponents {
  clock: Clock;
  logger: Logger;
  layout: PieceLayout;
  store: PieceStore;
  have: Bitfield;
  limiter: UploadLimiter;
  /** Whether uploading is allowed right now (seeding policy, Wi-Fi/power). */
  uploadAllowed(): boolean;
}

export interface PeerConnection extends PieceSource {
  readonly wire: WireLike;
  readonly initiator: boolean;
  readonly downloadRate: RateEstimator;
  readonly uploadRate: RateEstimator;
  uploaded(): number;
  /** Pieces the peer holds, as far as it told us (bitfield and haves). */
  peerPieceCount(): number;
  peerInterested(): boolean;
  /** We told the peer we want a piece it holds. */
  amInterested(): boolean;
  onChange(handler: () => void): () => void;
  /** Both handshakes are done and the wire is open. */
  handshaken(): boolean;
  choking(): boolean;
  setChoking(choke: boolean): void;
  /** We verified a new piece: tell the peer, and update our interest. */
  announceHave(index: number): void;
  /** We are fetching `index` from infrastructure: peers may ask us for it soon (BEP 6 suggest). */
  announceSoon(index: number): void;
  soon(index: number): boolean;
  /** The peer told us it is fetching `index` from infrastructure (so the swarm can relay the claim). */
  onSoon(handler: (index: number) => void): void;
  /** Resolves after the handshake (bitfield sent), rejects if the stream dies first. */
  ready(): boolean;
  onClose(handler: () => void): void;
  onInterest(handler: () => void): void;
}

/**
 * One BitTorrent wire (bittorrent-protocol) over any Duplex: a PZ stream, a TCP socket, or an in-memory
 * pair in tests. Downloads whole pieces as pipelined 16 KiB blocks (a PieceSource for the engine) and
 * serves verified pieces to the peer within the upload limiter. The wire's own timers are never used:
 * request timeouts come from the engine's clock, so this runs in virtual time too.
 */
export function createPeerConnection(
  stream: Duplex,
  options: PeerConnectionOptions,
  components: PeerComponents,
): PeerConnection {
  const { clock, logger, layout, store, have, limiter } = components;
  const wire = new Wire() as unknown as WireLike;
  const changeHandlers = new Set<() => void>();
  const closeHandlers = new Set<() => void>();
  const interestHandlers = new Set<() => void>();
  const soonHandlers = new Set<(index: number) => void>();
  const soonUntil = new Map<number, number>();
  const downloadRate = new RateEstimator(clock);
  const uploadRate = new RateEstimator(clock);
  let uploadedBytes = 0;
  let handshakeDone = false;
  let closed = false;
  let cachedPiece: { index: number; bytes: Uint8Array } | undefined;
  /** Haves and suggests waiting for the next batch (see CONTROL_BATCH_MS). */
  const pendingHaves: number[] = [];
  const pendingSoon: number[] = [];
  /** Haves for pieces the peer holds already, waiting to ride along with a batch that leaves anyway. */
  const withheld: number[] = [];
  let batchTimer: TimerHandle | undefined;
  let batchAt = Number.POSITIVE_INFINITY;
  const opens = options.opensWire ?? options.initiator;
  let presumedInterest = options.presumeInterest === true;
  let presumptionTimer: TimerHandle | undefined;
  const endPresumption = (): void => {
    if (presumptionTimer) clock.clearTimer(presumptionTimer);
    presumptionTimer = undefined;
    presumedInterest = false;
  };

  const changed = (): void => {
    for (const h of changeHandlers) h();
  };

  const updateInterest = (): void => {
    if (closed || !handshakeDone) return;
    let want = false;
    for (let i = 0; i < layout.pieces.length && !want; i++)
      if (!have.get(i) && wire.peerPieces.get(i)) want = true;
    if (want && !wire.amInterested) wire.interested();
    else if (!want && wire.amInterested) wire.uninterested();
  };

  const flushControl = (): void => {
    batchTimer = undefined;
    batchAt = Number.POSITIVE_INFINITY;
    if (closed) return;
    // A have for a piece the peer already holds changes nothing it acts on now (its interest is in
    // pieces it lacks), so it does not get a datagram of its own: it rides along with the next batch
    // that leaves anyway, or with the last one, when we complete and the peer must see a seeder.
    let needed = pendingSoon.length > 0 || have.complete();
    for (const index of pendingHaves) {
      if (wire.peerPieces.get(index)) withheld.push(index);
      else {
        wire.have(index);
        needed = true;
      }
    }
    pendingHaves.length = 0;
    for (const index of pendingSoon) wire.suggest(index);
    pendingSoon.length = 0;
    if (needed) {
      for (const index of withheld) wire.have(index);
      withheld.length = 0;
    }
  };
  const queueControl = (delayMs: number): void => {
    const at = clock.now() + delayMs;
    if (at >= batchAt) return;
    if (batchTimer) clock.clearTimer(batchTimer);
    batchAt = at;
    batchTimer = clock.setTimer(delayMs, flushControl);
  };

  const close = (reason: string): void => {
    if (closed) return;
    closed = true;
    if (batchTimer) clock.clearTimer(batchTimer);
    batchTimer = undefined;
    endPresumption();
    logger.debug({ peer: options.id, reason }, 'peer closed');
    try {
      wire.destroy();
    } catch {
      // already gone
    }
    stream.destroy();
    for (const h of closeHandlers) h();
    changed();
  };

  stream.on('error', () => close('stream error'));
  stream.on('close', () => close('stream closed'));
  wire.on('close', () => close('wire closed'));
  wire.on('error', () => close('wire error'));
  // Explicit plumbing instead of pipe(): streamx (the Wire) piped into a Node Duplex stalled under
  // backpressure; here the wire pauses while the transport stream is full and resumes on drain.
  const guard = createFrameGuard(Math.max(MAX_MESSAGE, Math.ceil(layout.pieces.length / 8) + 1));
  // The wire re-concatenates everything it holds on every write until a message is whole (a 16 KiB
  // block arriving in ~1 KB transport chunks was copied ~8 times over, 8 % of a 1,000-device lab
  // run's CPU): it gets whole messages only, at the same moments it would have parsed them.
  const partial: Uint8Array[] = [];
  let partialBytes = 0;
  stream.on('data', (chunk: Uint8Array) => {
    if (closed) return;
    if (!guard.feed(chunk)) {
      close('message too large');
      return;
    }
    const upTo = guard.completeUpTo;
    if (upTo === 0) {
      partial.push(chunk);
      partialBytes += chunk.length;
      return;
    }
    let whole = chunk.subarray(0, upTo);
    if (partialBytes > 0) {
      partial.push(whole);
      whole = Buffer.concat(partial, partialBytes + upTo);
      partial.length = 0;
      partialBytes = 0;
    }
    if (upTo < chunk.length) {
      partial.push(chunk.subarray(upTo));
      partialBytes = chunk.length - upTo;
    }
    wire.write(whole);
  });
  wire.on('data', ((chunk: Uint8Array) => {
    if (closed) return;
    if (!stream.write(chunk)) wire.pause();
  }) as (...args: never[]) => void);
  stream.on('drain', () => wire.resume());

  /**
   * Handshake, bitfield and (while we lack pieces) interest leave in one flight, the dialer's without
   * waiting for the peer's handshake. In the textbook order (handshake; handshake + bitfield; bitfield;
   * interested; unchoke) a newcomer's first request goes out 3 round trips after the session is up:
   * 0.7-1 s between two mobile devices. In one flight each way the peer's answer to our opening already
   * carries its unchoke (its choker acts on our interest as soon as it reads it), so the first request
   * leaves after one round trip. The interest is a guess, made before we see the peer's pieces: a device
   * still downloading wants something from nearly every peer it dials, and the peer's bitfield, a round
   * trip later, withdraws the guess where it was wrong (updateInterest). The acceptor does not guess: the
   * dialer's bitfield came in the same flight as its handshake, and is read right after it.
   */
  const sendHandshake = (): void => wire.handshake(options.infoHash, options.peerId, { fast: true });
  const sendOpening = (guessInterest: boolean): void => {
    sendHandshake();
    wire.bitfield(have.bytes);
    if (guessInterest && !have.complete()) wire.interested();
  };
  const eager = options.textbookOpening !== true;
  if (opens) {
    // A PZ acceptor opens only for a newcomer that holds nothing yet: no interest to guess there.
    if (eager) sendOpening(options.initiator);
    else sendHandshake();
  }
  /** Chokes and unchokes may go out: our bitfield is on the wire (the opener's left in its first flight). */
  const mayControl = (): boolean => !closed && (handshakeDone || (opens && eager));
  wire.on('handshake', ((infoHash: string) => {
    if (infoHash !== options.infoHash) {
      close('wrong info hash');
      return;
    }
    if (!opens) sendOpening(false);
    else if (!eager) wire.bitfield(have.bytes);
    handshakeDone = true;
    changed();
  }) as (...args: never[]) => void);

  // Pieces the peer holds, kept as messages arrive: the choker and the swarm's seed check ask often, and
  // a count over the bitfield per question was O(pieces) each time.
  let peerHeld = 0;
  const recount = (): void => {
    peerHeld = 0;
    for (let i = 0; i < layout.pieces.length; i++) if (wire.peerPieces.get(i)) peerHeld++;
  };
  wire.on('have', ((index: number) => {
    // The wire reports a have once per piece; indexes past the release (a liar) are not counted.
    if (index >= 0 && index < layout.pieces.length) peerHeld++;
  }) as (...args: never[]) => void);
  wire.on('bitfield', recount as (...args: never[]) => void);
  wire.on('have-all', recount as (...args: never[]) => void);

  for (const event of ['have', 'bitfield', 'have-all', 'have-none', 'unchoke', 'choke']) {
    wire.on(event, (() => {
      updateInterest();
      changed();
    }) as (...args: never[]) => void);
  }
  wire.on('suggest', ((index: number) => {
    if (index >= 0 && index < layout.pieces.length) {
      soonUntil.set(index, clock.now() + SOON_MS);
      changed();
      for (const h of soonHandlers) h(index);
    }
  }) as (...args: never[]) => void);
  const interestChanged = (): void => {
    for (const h of interestHandlers) h();
  };
  // Interest messages and close end the presumption (and its timer) earlier.
  if (presumedInterest)
    presumptionTimer = clock.setTimer(PRESUMED_INTEREST_MS, () => {
      presumptionTimer = undefined;
      endPresumption();
      // The slot it held goes back to the choker: the peer never said it wants anything.
      interestChanged();
    });
  for (const event of ['interested', 'uninterested'])
    wire.on(event, (() => {
      endPresumption();
      interestChanged();
    }) as (...args: never[]) => void);

  wire.on('request', ((
    index: number,
    offset: number,
    length: number,
    respond: (err: Error | null, b?: Uint8Array) => void,
  ) => {
    if (!have.get(index) || length > MAX_REQUEST || !components.uploadAllowed()) {
      respond(new Error('not available'));
      return;
    }
    const { length: pieceLen } = pieceBounds(layout, index);
    if (offset < 0 || offset + length > pieceLen) {
      respond(new Error('out of range'));
      return;
    }
    void (async () => {
      try {
        let bytes: Uint8Array;
        if (cachedPiece?.index === index) bytes = cachedPiece.bytes;
        else {
          bytes = await store.readPiece(index);
          cachedPiece = { index, bytes };
        }
        await limiter.take(length);
        if (closed) return;
        uploadedBytes += length;
        uploadRate.add(length);
        respond(null, bytes.subarray(offset, offset + length));
      } catch (error) {
        respond(error instanceof Error ? error : new Error(String(error)));
      }
    })();
  }) as (...args: never[]) => void);

  const fetchPiece = (index: number, signal: AbortSignal): Promise<Uint8Array> =>
    new Promise((resolve, reject) => {
      const { length } = pieceBounds(layout, index);
      const out = new Uint8Array(length);
      const pending = new Set<number>();
      let settled = false;
      const fail = (error: Error): void => {
        if (settled) return;
        settled = true;
        for (const offset of pending) {
          try {
            wire.cancel(index, offset, Math.min(BLOCK, length - offset));
          } catch {
            // wire closed
          }
        }
        reject(error);
      };
      signal.addEventListener('abort', () => fail(new Error(`aborted: ${String(signal.reason)}`)), {
        once: true,
      });
      if (closed) {
        fail(new Error('peer closed'));
        return;
      }
      for (let offset = 0; offset < length; offset += BLOCK) {
        const blockLength = Math.min(BLOCK, length - offset);
        pending.add(offset);
        wire.request(index, offset, blockLength, (err, block) => {
          if (settled) return;
          if (err || !block) {
            const soft = /chok|reject/.test(err?.message ?? '');
            fail(Object.assign(err ?? new Error('empty block'), { soft }));
            return;
          }
          if (block.length !== blockLength) {
            fail(new Error('block of wrong length'));
            return;
          }
          pending.delete(offset);
          out.set(block, offset);
          downloadRate.add(block.length);
          if (pending.size === 0) {
            settled = true;
            resolve(out);
          }
        });
      }
    });

  const connection: PeerConnection = {
    id: options.id,
    kind: 'peer',
    sourceClass: options.sourceClass,
    wire,
    initiator: options.initiator,
    downloadRate,
    uploadRate,
    maxInFlight: () => options.maxInFlight,
    has: (index) => handshakeDone && !closed && wire.peerPieces.get(index),
    ready: () => handshakeDone && !closed && !wire.peerChoking,
    fetchPiece,
    close,
    onChange(handler) {
      changeHandlers.add(handler);
      return () => changeHandlers.delete(handler);
    },
    uploaded: () => uploadedBytes,
    peerPieceCount: () => (handshakeDone ? peerHeld : 0),
    handshaken: () => handshakeDone && !closed,
    amInterested: () => wire.amInterested,
    peerInterested: () => wire.peerInterested || presumedInterest,
    choking: () => wire.amChoking,
    setChoking(choke) {
      if (!mayControl() || choke === wire.amChoking) return;
      if (choke) wire.choke();
      else wire.unchoke();
    },
    announceHave(index) {
      if (closed || !handshakeDone) return;
      pendingHaves.push(index);
      queueControl(wire.peerInterested && !have.complete() ? HAVE_BATCH_MS : CONTROL_BATCH_MS);
      if (cachedPiece && cachedPiece.index !== index) cachedPiece = undefined;
      updateInterest();
    },
    announceSoon(index) {
      if (closed || !handshakeDone || !wire.hasFast) return;
      pendingSoon.push(index);
      queueControl(CONTROL_BATCH_MS);
    },
    soon(index) {
      const until = soonUntil.get(index);
      if (until === undefined) return false;
      if (until < clock.now() || wire.peerPieces.get(index)) {
        soonUntil.delete(index);
        return false;
      }
      return true;
    },
    onClose(handler) {
      closeHandlers.add(handler);
    },
    onInterest(handler) {
      interestHandlers.add(handler);
    },
    onSoon(handler) {
      soonHandlers.add(handler);
    },
  };
  return connection;
}
