import { createHash } from 'node:crypto';
import type { Clock, Logger, TimerHandle } from '../../runtime/index.ts';
import type { Block, Connection } from '../../transport/index.ts';

/**
 * The manifest from peers (after BEP 9, ut_metadata): a device that holds a swarm's signed manifest
 * says so on each peer session of that swarm, and a device that does not yet hold it takes the bytes
 * from those peers instead of the CDN. The channel pointer pins the manifest by SHA-256, so a peer can
 * only hand over the pinned document or be caught (its session closed, the peer refused from then on).
 *
 * It runs in the PZ session's block channel (Connection.sendBlock), which peer sessions use for nothing
 * else: it works before the BitTorrent stream exists (while the download waits for the very manifest),
 * and the session carries on as an ordinary peer session afterwards, with no second handshake.
 *
 * Whether a side still wants the manifest rides in the session handshake (peer-network.ts: `want` in
 * the dialer's init payload or in the acceptor's init reply, as BEP 9's metadata_size rides in the
 * extended handshake). A holder pushes a small manifest (one piece) to a peer that wants it together
 * with its HAVE, so it arrives with the session and costs no round trip; a larger one is requested.
 * Messages are blocks whose `object` names the message:
 *   HAVE    offset = manifest length in bytes, data = [1] when the manifest follows unasked (pushed),
 *           else [0]; sent when the session opens, or on every open session once the manifest arrives
 *   REQUEST offset = piece index (pieces of 16 KiB)
 *   DATA    offset = byte offset in the manifest, data = those bytes (a piece, cut into frames)
 *   REJECT  offset = piece index (we do not hold it)
 * The one data byte of REQUEST and REJECT is 0 and ignored.
 */
export const MANIFEST_PIECE_BYTES = 16 * 1024;
/** Larger announced manifests are not taken (a 1 GiB release in 64 KiB pieces has one of ~1.1 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MANIFEST_BLOCK = { have: 0x6d01, request: 0x6d02, data: 0x6d03, reject: 0x6d04 } as const;
/** A requester gets each piece at most this often per session (a second ask covers a lost answer). */
const SERVES_PER_PIECE = 2;
const ZERO = new Uint8Array(1);
const ONE = new Uint8Array([1]);

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
  /**
   * Manifest bytes received from the swarm's peers up to now: the delivering peer's, and any other
   * answer's (a refused one, or a second holder's push that crossed the first).
   */
  receivedBytes: number;
}

export interface ManifestExchange {
  /** Whether we want this swarm's manifest from peers (asked for, expected, and not held yet). */
  wants(infoHash: string): boolean;
  /**
   * We mean to take this swarm's manifest from peers: from now on our handshakes say so (and holders
   * push it). Only then: a device that takes it from the CDN is not pushed copies it will not use.
   */
  want(infoHash: string): void;
  /**
   * A peer session of this swarm (either direction, before or after the download is attached).
   * `remoteWants`: the peer said in the handshake that it does not hold the manifest yet.
   */
  addSession(infoHash: string, connection: Connection, remoteWants: boolean): void;
  /**
   * We hold this swarm's verified manifest: serve it, and tell every open session of the swarm.
   * `mayUpload`: the device's upload policy (Wi-Fi / power); while it says no, we neither announce
   * nor serve the manifest.
   */
  provide(infoHash: string, bytes: Uint8Array, mayUpload?: () => boolean): void;
  /** Stop serving the swarm's manifest (the swarm was left). */
  forget(infoHash: string): void;
  /** From peers that hold it; undefined when none delivered the pinned bytes within the budget. */
  fetch(infoHash: string, options: ManifestFetchOptions): Promise<ManifestFromPeer | undefined>;
}

interface Incoming {
  buffer: Uint8Array;
  filled: Uint8Array;
  missing: number;
  received: number;
  bad: boolean;
  rejected: boolean;
  /** Called on every change (bytes, reject, close). */
  changed: (() => void) | undefined;
}

interface Session {
  connection: Connection;
  remoteWants: boolean;
  /** The peer's HAVE said the manifest follows unasked. */
  pushing: boolean;
  /** Announced manifest length; undefined until the peer said it holds the manifest. */
  announced: number | undefined;
  /** What the peer sends us (from its HAVE on, while we want the manifest). */
  incoming: Incoming | undefined;
  /** DATA that overtook its HAVE (blocks are unordered), bounded by one piece. */
  early: Block[];
  served: Map<number, number>;
  /** A fetch has asked (or waited on) this peer. */
  tried: boolean;
  closed: boolean;
}

export function createManifestExchange(
  components: { clock: Clock; logger: Logger },
  hooks: {
    expecting: (infoHash: string) => boolean;
    onBadPeer: (infoHash: string, connection: Connection, reason: string) => void;
  },
): ManifestExchange {
  const { clock, logger } = components;
  const sessions = new Map<string, Set<Session>>();
  const held = new Map<string, { bytes: Uint8Array; mayUpload: () => boolean }>();
  const servable = (infoHash: string): Uint8Array | undefined => {
    const h = held.get(infoHash);
    return h?.mayUpload() ? h.bytes : undefined;
  };
  /** Manifest bytes received per swarm while we wanted it. */
  const receivedBySwarm = new Map<string, number>();
  /** Fetches waiting for something to happen in a swarm (a HAVE, bytes, a close). */
  const waiting = new Map<string, Set<() => void>>();

  const wanted = new Set<string>();
  const wants = (infoHash: string): boolean =>
    wanted.has(infoHash) && !held.has(infoHash) && hooks.expecting(infoHash);
  const send = (connection: Connection, object: number, offset: number, data: Uint8Array = ZERO): void => {
    connection.sendBlock({ object, offset, data });
  };
  const wake = (infoHash: string): void => {
    for (const w of waiting.get(infoHash) ?? []) w();
  };

  /**
   * HAVE, and the manifest itself to a peer that wants it (`push`: only while its word is fresh, as the
   * session opens; a session from before we held the manifest hears HAVE only, and a peer still
   * fetching asks. In a flash crowd every device forms its sessions before it holds the manifest:
   * pushing on all of them at once would spend each uplink on copies their peers already took from
   * the CDN).
   */
  const announce = (session: Session, bytes: Uint8Array, push: boolean): void => {
    const pushing = push && session.remoteWants && bytes.length <= MANIFEST_PIECE_BYTES;
    send(session.connection, MANIFEST_BLOCK.have, bytes.length, pushing ? ONE : ZERO);
    if (pushing) {
      session.served.set(0, 1);
      send(session.connection, MANIFEST_BLOCK.data, 0, bytes);
    }
  };

  const onBlock = (infoHash: string, session: Session, block: Block): void => {
    switch (block.object) {
      case MANIFEST_BLOCK.have: {
        if (session.announced !== undefined) return;
        session.announced = block.offset;
        session.pushing = block.data[0] === 1 && block.offset <= MANIFEST_PIECE_BYTES;
        if (wants(infoHash)) expectFrom(session);
        session.early = [];
        wake(infoHash);
        return;
      }
      case MANIFEST_BLOCK.request:
        serve(infoHash, session, block.offset);
        return;
      case MANIFEST_BLOCK.reject:
        if (session.incoming) {
          session.incoming.rejected = true;
          session.incoming.changed?.();
        }
        return;
      case MANIFEST_BLOCK.data:
        if (wants(infoHash))
          receivedBySwarm.set(infoHash, (receivedBySwarm.get(infoHash) ?? 0) + block.data.length);
        if (session.incoming) receive(session, block);
        else if (session.announced === undefined && session.early.length < 16 && wants(infoHash))
          session.early.push({ ...block, data: block.data.slice() });
        return;
      default:
      // not a manifest message: peer sessions carry nothing else in blocks
    }
  };

  /** Ready to take the manifest from a peer that announced it (a size we accept). */
  const expectFrom = (session: Session): Incoming | undefined => {
    const size = session.announced;
    if (session.incoming || size === undefined || size <= 0 || size > MAX_MANIFEST_BYTES)
      return session.incoming;
    session.incoming = {
      buffer: new Uint8Array(size),
      filled: new Uint8Array(size),
      missing: size,
      received: 0,
      bad: false,
      rejected: false,
      changed: undefined,
    };
    for (const early of session.early.splice(0)) receive(session, early);
    return session.incoming;
  };

  const serve = (infoHash: string, session: Session, piece: number): void => {
    const bytes = servable(infoHash);
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
    const r = session.incoming;
    if (!r || r.bad || r.missing === 0) return;
    r.received += block.data.length;
    if (block.offset + block.data.length > r.buffer.length || r.received > 2 * r.buffer.length) r.bad = true;
    else {
      r.buffer.set(block.data, block.offset);
      for (let i = block.offset; i < block.offset + block.data.length; i++)
        if (r.filled[i] === 0) {
          r.filled[i] = 1;
          r.missing--;
        }
    }
    r.changed?.();
  };

  /**
   * Waits on one peer's answer: asks for the pieces still missing unless a push is on its way, then
   * waits while bytes keep coming. `silenceMs` bounds the wait for each next bytes (a sender in slow
   * start takes a few round trips for a large manifest, and that is not slowness), `untilMs` the whole.
   */
  const answerOf = (
    session: Session,
    r: Incoming,
    silenceMs: number,
    untilMs: number,
  ): Promise<'done' | 'rejected' | 'bad' | 'slow'> =>
    new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      const finish = (outcome: 'done' | 'rejected' | 'bad' | 'slow'): void => {
        if (timer !== undefined) clock.clearTimer(timer);
        r.changed = undefined;
        resolve(outcome);
      };
      const arm = (): void => {
        if (timer !== undefined) clock.clearTimer(timer);
        timer = clock.setTimer(Math.max(0, Math.min(silenceMs, untilMs - clock.now())), () => finish('slow'));
      };
      r.changed = () => {
        if (r.bad) finish('bad');
        else if (r.missing === 0) finish('done');
        else if (r.rejected) finish('rejected');
        else if (session.closed) finish('slow');
        else arm();
      };
      // Pushed bytes left with the HAVE (blocks are reliable): asking again would only duplicate them.
      if (!session.pushing) {
        const pieces = Math.ceil(r.buffer.length / MANIFEST_PIECE_BYTES);
        for (let i = 0; i < pieces; i++) {
          const start = i * MANIFEST_PIECE_BYTES;
          if (r.filled.subarray(start, start + MANIFEST_PIECE_BYTES).includes(0))
            send(session.connection, MANIFEST_BLOCK.request, i);
        }
      }
      arm();
      r.changed();
    });

  /** The next peer to take the manifest from: one whose answer is complete first, then any announced. */
  const nextCandidate = (infoHash: string): Session | undefined => {
    let best: Session | undefined;
    for (const s of sessions.get(infoHash) ?? []) {
      // A HAVE that came before we wanted the manifest (an inbound session before our first answer).
      const r = s.tried || s.closed ? undefined : expectFrom(s);
      if (!r) continue;
      if (r.missing === 0 || r.bad) return s;
      if (!best || r.received > best.incoming!.received) best = s;
    }
    return best;
  };

  /** Resolves when something may have changed in the swarm's sessions, or at the deadline. */
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
    wants,
    want(infoHash) {
      wanted.add(infoHash);
    },
    addSession(infoHash, connection, remoteWants) {
      const set = sessions.get(infoHash) ?? new Set<Session>();
      sessions.set(infoHash, set);
      const session: Session = {
        connection,
        remoteWants,
        pushing: false,
        announced: undefined,
        incoming: undefined,
        early: [],
        served: new Map(),
        tried: false,
        closed: false,
      };
      set.add(session);
      const offBlock = connection.onBlock((block) => onBlock(infoHash, session, block));
      connection.onClose(() => {
        offBlock();
        session.closed = true;
        session.incoming?.changed?.();
        set.delete(session);
        if (set.size === 0 && sessions.get(infoHash) === set) sessions.delete(infoHash);
      });
      const bytes = servable(infoHash);
      if (bytes) announce(session, bytes, true);
    },
    provide(infoHash, bytes, mayUpload = () => true) {
      if (held.has(infoHash)) return;
      held.set(infoHash, { bytes, mayUpload });
      for (const s of sessions.get(infoHash) ?? []) {
        s.incoming = undefined;
        s.early = [];
        if (mayUpload()) announce(s, bytes, false);
      }
    },
    forget(infoHash) {
      held.delete(infoHash);
      wanted.delete(infoHash);
      receivedBySwarm.delete(infoHash);
    },
    async fetch(infoHash, options) {
      const deadline = clock.now() + options.budgetMs;
      wanted.add(infoHash);
      for (;;) {
        if (held.has(infoHash)) return undefined;
        const session = nextCandidate(infoHash);
        if (!session) {
          if (clock.now() >= deadline) return undefined;
          await nextEvent(infoHash, deadline);
          continue;
        }
        session.tried = true;
        const r = session.incoming!;
        const rtt = session.connection.stats().rttMs;
        const silenceMs = Math.max(options.minAnswerMs ?? 500, (options.answerRtts ?? 4) * rtt);
        const outcome = await answerOf(session, r, silenceMs, deadline);
        if (outcome === 'done') {
          const digest = createHash('sha256').update(r.buffer).digest('hex');
          if (digest === options.sha256)
            return {
              bytes: r.buffer,
              remoteKey: session.connection.remoteStaticKey,
              receivedBytes: receivedBySwarm.get(infoHash) ?? r.received,
            };
          hooks.onBadPeer(infoHash, session.connection, 'manifest does not match the pinned SHA-256');
        } else if (outcome === 'bad') {
          hooks.onBadPeer(infoHash, session.connection, 'manifest answer out of bounds');
        } else {
          logger.debug({ outcome }, 'manifest not delivered by a peer');
        }
        if (clock.now() >= deadline) return undefined;
      }
    },
  };
}
