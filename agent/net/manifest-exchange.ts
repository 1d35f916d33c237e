import { createHash } from 'node:crypto';
import type { Clock, Logger, TimerHandle } from '../../runtime/index.ts';
import type { Block, Connection } from '../../transport/index.ts';

/**
 * The manifest from peers (after BEP 9, ut_metadata): a device that holds a swarm's signed manifest
 * says so on each peer session of that swarm, and a device that does not yet hold it asks those peers
 * for its bytes instead of the CDN. The channel pointer pins the manifest by SHA-256, so a peer can only
 * hand over the pinned document or be caught (its session closed, the peer refused from then on).
 *
 * It runs in the PZ session's block channel (Connection.sendBlock), which peer sessions do not use for
 * anything else: it works before the BitTorrent stream exists (while the download waits for the very
 * manifest), and the session carries on as an ordinary peer session afterwards, with no second
 * handshake. Messages are blocks whose `object` names the message:
 *   HAVE    offset = manifest length in bytes (the BEP 9 metadata_size); sent when the session opens,
 *           or on every open session of the swarm once the manifest arrives
 *   REQUEST offset = piece index (pieces of 16 KiB)
 *   DATA    offset = byte offset in the manifest, data = those bytes (a piece, cut into frames)
 *   REJECT  offset = piece index (we do not hold it)
 * The one data byte of HAVE, REQUEST and REJECT is 0 and ignored.
 */
export const MANIFEST_PIECE_BYTES = 16 * 1024;
/** Larger announced manifests are not asked for (a 1 GiB release in 64 KiB pieces is ~1.1 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MANIFEST_BLOCK = { have: 0x6d01, request: 0x6d02, data: 0x6d03, reject: 0x6d04 } as const;
/** A requester gets each piece at most this often per session (a second ask covers a lost answer). */
const SERVES_PER_PIECE = 2;
const ZERO = new Uint8Array(1);

export interface ManifestFetchOptions {
  sha256: string;
  /** Total time for peers to answer, from the call: then the caller goes to the CDN. */
  budgetMs: number;
  /** How long one peer may stay silent while it answers, in its session's round trips (at least minAnswerMs). */
  answerRtts?: number;
  minAnswerMs?: number;
}

export interface ManifestFromPeer {
  bytes: Uint8Array;
  /** Static key of the peer that delivered them (the caller classifies it for byte accounting). */
  remoteKey: Uint8Array;
  /** Bytes received from peers for this fetch, the delivering peer's and any refused answers'. */
  receivedBytes: number;
}

export interface ManifestExchange {
  /** A peer session of this swarm (either direction, before or after the download is attached). */
  addSession(infoHash: string, connection: Connection): void;
  /** We hold this swarm's verified manifest: serve it, and tell every open session of the swarm. */
  provide(infoHash: string, bytes: Uint8Array): void;
  /** Stop serving the swarm's manifest (the swarm was left). */
  forget(infoHash: string): void;
  /** Asks peers that said they hold it; undefined when none delivered the pinned bytes in the budget. */
  fetch(infoHash: string, options: ManifestFetchOptions): Promise<ManifestFromPeer | undefined>;
}

interface Session {
  connection: Connection;
  /** Announced manifest length; undefined until the peer said it holds the manifest. */
  announced: number | undefined;
  served: Map<number, number>;
  tried: boolean;
  /** An answer being received from this peer (only while a fetch asks it). */
  receiving: Receiving | undefined;
}

interface Receiving {
  buffer: Uint8Array;
  filled: Uint8Array;
  missing: number;
  received: number;
  /** Bytes arrived: the peer is answering (the silence timer restarts). */
  progressed: () => void;
  settle: (outcome: 'done' | 'rejected' | 'bad' | 'slow') => void;
}

export function createManifestExchange(
  components: { clock: Clock; logger: Logger },
  hooks: { onBadPeer: (infoHash: string, connection: Connection, reason: string) => void },
): ManifestExchange {
  const { clock, logger } = components;
  const sessions = new Map<string, Set<Session>>();
  const held = new Map<string, Uint8Array>();
  /** Fetches waiting for a HAVE, by swarm. */
  const waiting = new Map<string, Set<() => void>>();

  const send = (connection: Connection, object: number, offset: number, data: Uint8Array = ZERO): void => {
    connection.sendBlock({ object, offset, data });
  };
  const wake = (infoHash: string): void => {
    for (const w of waiting.get(infoHash) ?? []) w();
  };

  const onBlock = (infoHash: string, session: Session, block: Block): void => {
    switch (block.object) {
      case MANIFEST_BLOCK.have:
        if (session.announced !== undefined) return;
        session.announced = block.offset;
        wake(infoHash);
        return;
      case MANIFEST_BLOCK.request:
        serve(infoHash, session, block.offset);
        return;
      case MANIFEST_BLOCK.reject:
        session.receiving?.settle('rejected');
        return;
      case MANIFEST_BLOCK.data:
        receive(session, block);
        return;
      default:
      // not a manifest message: peer sessions carry nothing else in blocks
    }
  };

  const serve = (infoHash: string, session: Session, piece: number): void => {
    const bytes = held.get(infoHash);
    const start = piece * MANIFEST_PIECE_BYTES;
    if (!bytes) {
      send(session.connection, MANIFEST_BLOCK.reject, piece);
      return;
    }
    if (start >= bytes.length) return;
    const count = session.served.get(piece) ?? 0;
    if (count >= SERVES_PER_PIECE) return;
    session.served.set(piece, count + 1);
    const data = bytes.subarray(start, Math.min(bytes.length, start + MANIFEST_PIECE_BYTES));
    send(session.connection, MANIFEST_BLOCK.data, start, data);
  };

  const receive = (session: Session, block: Block): void => {
    const r = session.receiving;
    if (!r) return;
    r.received += block.data.length;
    if (block.offset + block.data.length > r.buffer.length || r.received > 2 * r.buffer.length) {
      r.settle('bad');
      return;
    }
    r.buffer.set(block.data, block.offset);
    for (let i = block.offset; i < block.offset + block.data.length; i++)
      if (r.filled[i] === 0) {
        r.filled[i] = 1;
        r.missing--;
      }
    if (r.missing === 0) r.settle('done');
    else r.progressed();
  };

  /**
   * Asks one peer for every piece; resolves with the bytes, or why not. `silenceMs` bounds the wait for
   * each next bytes (a sender in slow start takes a few round trips for a large manifest, and that is
   * not slowness), `untilMs` the whole answer.
   */
  const ask = (
    session: Session,
    size: number,
    silenceMs: number,
    untilMs: number,
  ): Promise<{ outcome: 'done' | 'rejected' | 'bad' | 'slow'; bytes: Uint8Array; received: number }> =>
    new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      const arm = (): void => {
        if (timer !== undefined) clock.clearTimer(timer);
        const wait = Math.min(silenceMs, untilMs - clock.now());
        timer = clock.setTimer(Math.max(0, wait), () => r.settle('slow'));
      };
      const r: Receiving = {
        buffer: new Uint8Array(size),
        filled: new Uint8Array(size),
        missing: size,
        received: 0,
        progressed: arm,
        settle: (outcome) => {
          if (session.receiving !== r) return;
          session.receiving = undefined;
          if (timer !== undefined) clock.clearTimer(timer);
          unclose();
          resolve({ outcome, bytes: r.buffer, received: r.received });
        },
      };
      session.receiving = r;
      const unclose = session.connection.onClose(() => r.settle('slow'));
      arm();
      const pieces = Math.ceil(size / MANIFEST_PIECE_BYTES);
      for (let i = 0; i < pieces; i++) send(session.connection, MANIFEST_BLOCK.request, i);
    });

  const nextAnnounced = (infoHash: string): Session | undefined => {
    for (const s of sessions.get(infoHash) ?? [])
      if (s.announced !== undefined && !s.tried && s.announced > 0 && s.announced <= MAX_MANIFEST_BYTES)
        return s;
    return undefined;
  };

  /** Resolves when a session of the swarm may have announced, or at the deadline. */
  const nextEvent = (infoHash: string, untilMs: number): Promise<void> =>
    new Promise((resolve) => {
      const set = waiting.get(infoHash) ?? new Set<() => void>();
      waiting.set(infoHash, set);
      const w = (): void => {
        clock.clearTimer(timer);
        set.delete(w);
        if (set.size === 0) waiting.delete(infoHash);
        resolve();
      };
      const timer = clock.setTimer(Math.max(0, untilMs - clock.now()), w);
      set.add(w);
    });

  return {
    addSession(infoHash, connection) {
      const set = sessions.get(infoHash) ?? new Set<Session>();
      sessions.set(infoHash, set);
      const session: Session = {
        connection,
        announced: undefined,
        served: new Map(),
        tried: false,
        receiving: undefined,
      };
      set.add(session);
      const offBlock = connection.onBlock((block) => onBlock(infoHash, session, block));
      connection.onClose(() => {
        offBlock();
        session.receiving?.settle('slow');
        set.delete(session);
        if (set.size === 0 && sessions.get(infoHash) === set) sessions.delete(infoHash);
      });
      const bytes = held.get(infoHash);
      if (bytes) send(connection, MANIFEST_BLOCK.have, bytes.length);
    },
    provide(infoHash, bytes) {
      if (held.has(infoHash)) return;
      held.set(infoHash, bytes);
      for (const s of sessions.get(infoHash) ?? []) send(s.connection, MANIFEST_BLOCK.have, bytes.length);
    },
    forget(infoHash) {
      held.delete(infoHash);
    },
    async fetch(infoHash, options) {
      const deadline = clock.now() + options.budgetMs;
      let received = 0;
      for (;;) {
        const session = nextAnnounced(infoHash);
        if (!session) {
          if (clock.now() >= deadline) return undefined;
          await nextEvent(infoHash, deadline);
          continue;
        }
        session.tried = true;
        const size = session.announced!;
        const rtt = session.connection.stats().rttMs;
        const silenceMs = Math.max(options.minAnswerMs ?? 500, (options.answerRtts ?? 4) * rtt);
        if (clock.now() >= deadline) return undefined;
        const answer = await ask(session, size, silenceMs, deadline);
        received += answer.received;
        if (answer.outcome === 'done') {
          const digest = createHash('sha256').update(answer.bytes).digest('hex');
          if (digest === options.sha256)
            return {
              bytes: answer.bytes,
              remoteKey: session.connection.remoteStaticKey,
              receivedBytes: received,
            };
          hooks.onBadPeer(infoHash, session.connection, 'manifest does not match the pinned SHA-256');
        } else if (answer.outcome === 'bad') {
          hooks.onBadPeer(infoHash, session.connection, 'manifest answer out of bounds');
        } else {
          logger.debug({ outcome: answer.outcome }, 'manifest not delivered by a peer');
        }
      }
    },
  };
}
