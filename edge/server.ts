import type { Duplex } from 'node:stream';
import { channelFromEndpoint, createStunServer, type StunServer } from '../nat/index.ts';
import { pieceRange } from '../release/index.ts';
import type { Address, Clock, Logger, Random, UdpSocket } from '../runtime/index.ts';
import { type Connection, createEndpoint, type Endpoint, type EndpointOptions } from '../transport/index.ts';
import { EdgeError } from './errors.ts';
import type { PieceProvider } from './pieces.ts';
import {
  type BetterEdge,
  createFrameReader,
  decodeInitRequest,
  type EdgeMessage,
  ErrorCode,
  type ErrorCodeName,
  encodeInit,
  encodeMessage,
  type InitReply,
} from './protocol.ts';
import { createTokenBucket, type TokenBucket } from './token-bucket.ts';
import {
  createTrackerAnnouncer,
  type TrackerAnnouncer,
  type TrackerClient,
  type TrackerEdgeInfo,
} from './tracker-client.ts';

/** Queued requests per session whose pieces are fetched ahead of their turn. */
const PREFETCH_REQUESTS = 4;

/** Application close code an edge uses when it refuses a session because it is full. */
export const EDGE_BUSY_CLOSE = 0x101;

export interface EdgeServerOptions {
  /** Stable id in the tracker's registry. */
  id: string;
  region: string;
  /** Raw 32-byte X25519 static key; devices pin its public half. */
  staticPrivateKey: Uint8Array;
  /** Total egress cap, bytes/s (also the capacity reported to the tracker). Unset = unlimited. */
  capacityBytesPerSecond?: number;
  /** Egress cap per session, bytes/s. Unset = unlimited. */
  sessionBytesPerSecond?: number;
  /** Sessions served at once; more are refused (with better edges in the init reply). Default 1000. */
  maxSessions?: number;
  /** Requests a session may have queued; more are answered BUSY. Default 64. */
  maxQueuedPerSession?: number;
  /** Bytes handed to Connection.sendBlock at a time. Default 64 KiB. */
  blockBytes?: number;
  /** Address registered with the tracker; default the socket's local address. */
  advertiseAddress?: Address;
  /** At most this many "better edges" in an init reply. Default 3. */
  betterLimit?: number;
  /** Transport options passed through (stateless retry threshold, windows, congestion...). */
  transport?: Omit<EndpointOptions, 'staticPrivateKey' | 'onInit'>;
}

export interface EdgeServerStats {
  sessions: number;
  sessionsRefused: number;
  requests: number;
  requestsFailed: Record<string, number>;
  busyAnswers: number;
  bytesSent: number;
  initsAnswered: number;
  stunAnswered: number;
}

export interface EdgeServer {
  readonly endpoint: Endpoint;
  readonly publicKey: Uint8Array;
  address(): Address;
  /** 0..1: the larger of session occupancy and egress use against capacity. */
  load(): number;
  stats(): EdgeServerStats;
  /** The registration record this edge sends to the tracker. */
  trackerInfo(): TrackerEdgeInfo;
  /** Starts tracker registration/heartbeats (if a tracker client was given). */
  start(): void;
  close(): Promise<void>;
}

interface Session {
  connection: Connection;
  bucket?: TokenBucket;
  sendChain: Promise<void>;
  queued: number;
  cancelled: Set<number>;
  closed: boolean;
}

/**
 * An edge: a PZ transport endpoint serving verified pieces from the piece cache (origin pull behind it),
 * answering one-round-trip init probes with its load and better edges, serving STUN on the same socket,
 * and keeping itself registered with the tracker. Nothing here touches real time: the clock, socket and
 * randomness are injected, so the lab runs this exact code in virtual time.
 */
export function createEdgeServer(
  options: EdgeServerOptions,
  components: {
    socket: UdpSocket;
    clock: Clock;
    random: Random;
    logger: Logger;
    pieces: PieceProvider;
    tracker?: TrackerClient;
  },
): EdgeServer {
  const { clock, logger, pieces } = components;
  const maxSessions = options.maxSessions ?? 1000;
  const maxQueued = options.maxQueuedPerSession ?? 64;
  const blockBytes = options.blockBytes ?? 64 * 1024;
  const betterLimit = options.betterLimit ?? 3;
  const totalBucket = options.capacityBytesPerSecond
    ? createTokenBucket({ bytesPerSecond: options.capacityBytesPerSecond }, { clock })
    : undefined;
  const sessions = new Set<Session>();
  const stats: EdgeServerStats = {
    sessions: 0,
    sessionsRefused: 0,
    requests: 0,
    requestsFailed: {},
    busyAnswers: 0,
    bytesSent: 0,
    initsAnswered: 0,
    stunAnswered: 0,
  };
  // Egress rate for the load figure: bytes over the last completed one-second window.
  let window = { at: clock.now(), bytes: 0, rate: 0 };
  let announcer: TrackerAnnouncer | undefined;

  const egressRate = (): number => {
    const now = clock.now();
    if (now - window.at >= 1000) {
      window = {
        at: now,
        bytes: stats.bytesSent,
        rate: ((stats.bytesSent - window.bytes) * 1000) / (now - window.at),
      };
    }
    return window.rate;
  };
  const load = (): number => {
    const occupancy = sessions.size / maxSessions;
    const egress = options.capacityBytesPerSecond ? egressRate() / options.capacityBytesPerSecond : 0;
    return Math.min(1, Math.max(occupancy, egress));
  };
  const full = (): boolean => sessions.size >= maxSessions;

  const betterEdges = (region: string | undefined, busy: boolean): BetterEdge[] => {
    const own = load();
    const peers = announcer?.peers() ?? [];
    return peers
      .filter((p) => busy || ((region === undefined || p.region === region) && p.load + 0.1 < own))
      .sort((a, b) => Number(b.region === region) - Number(a.region === region) || a.load - b.load)
      .slice(0, betterLimit)
      .map((p) => ({ id: p.id, address: p.address, publicKey: p.publicKey, region: p.region, load: p.load }));
  };

  const onInit = (payload: Uint8Array): Uint8Array => {
    const request = decodeInitRequest(payload);
    stats.initsAnswered++;
    const busy = full();
    const reply: InitReply = {
      v: 1,
      id: options.id,
      region: options.region,
      load: load(),
      sessions: sessions.size,
      busy,
      better: betterEdges(request?.region, busy),
    };
    return encodeInit(reply);
  };

  const endpoint = createEndpoint(
    { ...options.transport, staticPrivateKey: options.staticPrivateKey, onInit },
    {
      socket: components.socket,
      clock,
      random: components.random,
      logger: logger.child({ part: 'transport' }),
    },
  );
  const advertised = (): Address => options.advertiseAddress ?? endpoint.localAddress();

  let stun: StunServer | undefined = createStunServer(
    { software: 'swarmlane-edge' },
    { sockets: { primary: { channel: channelFromEndpoint(endpoint), address: advertised() } }, logger },
  );

  const fail = (stream: Duplex, id: number, code: ErrorCodeName, message: string): void => {
    stats.requestsFailed[code] = (stats.requestsFailed[code] ?? 0) + 1;
    write(stream, { type: 'error', id, code: ErrorCode[code], message });
  };
  const write = (stream: Duplex, message: EdgeMessage): void => {
    if (!stream.destroyed && stream.writable) stream.write(encodeMessage(message));
  };

  const waitDrain = (session: Session): Promise<void> =>
    new Promise((resolve) => {
      const offDrain = session.connection.onDrain(() => {
        offDrain();
        offClose();
        resolve();
      });
      const offClose = session.connection.onClose(() => {
        offDrain();
        offClose();
        resolve();
      });
    });

  const sendRange = async (session: Session, id: number, data: Uint8Array): Promise<boolean> => {
    for (let offset = 0; offset < data.length; offset += blockBytes) {
      if (session.closed || session.cancelled.has(id)) return false;
      const chunk = data.subarray(offset, Math.min(data.length, offset + blockBytes));
      if (session.bucket) await session.bucket.take(chunk.length);
      if (totalBucket) await totalBucket.take(chunk.length);
      // A cancel may have arrived while the rate limits held this chunk back.
      if (session.cancelled.has(id)) return false;
      while (!session.closed && !session.connection.sendBlock({ object: id, offset, data: chunk }))
        await waitDrain(session);
      if (session.closed) return false;
      stats.bytesSent += chunk.length;
    }
    return true;
  };

  const handleRequest = (
    session: Session,
    stream: Duplex,
    request: Extract<EdgeMessage, { type: 'request' }>,
  ): void => {
    stats.requests++;
    if (session.queued >= maxQueued) {
      stats.busyAnswers++;
      write(stream, { type: 'busy', id: request.id, retryAfterMs: 100 });
      return;
    }
    session.queued++;
    // The first few queued requests fetch their piece at once (cache or origin) so origin latency
    // overlaps sending; later ones fetch when their turn comes, so a deep queue never pins many
    // pieces in memory. Sending is serialized per session: one request's blocks go out together.
    const fetch = () =>
      pieces.getPiece(request.release, request.piece).then(
        (result) => ({ ok: true as const, ...result }),
        (error: unknown) => ({ ok: false as const, error }),
      );
    const prefetched = session.queued <= PREFETCH_REQUESTS ? fetch() : undefined;
    session.sendChain = session.sendChain
      .then(async () => {
        try {
          const result = await (prefetched ?? fetch());
          if (!result.ok) {
            const code = (result.error as { code?: string }).code;
            const known: ErrorCodeName[] = [
              'UNKNOWN_RELEASE',
              'PIECE_OUT_OF_RANGE',
              'ORIGIN_UNAVAILABLE',
              'ORIGIN_CORRUPT',
            ];
            const name = known.includes(code as ErrorCodeName) ? (code as ErrorCodeName) : 'INTERNAL';
            if (name === 'INTERNAL') logger.warn({ err: result.error }, 'edge: piece request failed');
            fail(stream, request.id, name, (result.error as Error).message);
            return;
          }
          const { length: pieceLength } = pieceRange(result.manifest, request.piece);
          const length = request.length === 0 ? pieceLength - request.offset : request.length;
          if (request.offset >= pieceLength || length <= 0 || request.offset + length > pieceLength) {
            fail(
              stream,
              request.id,
              'BAD_RANGE',
              `range ${request.offset}+${request.length} outside piece of ${pieceLength}`,
            );
            return;
          }
          const sent = await sendRange(
            session,
            request.id,
            result.bytes.subarray(request.offset, request.offset + length),
          );
          if (sent) write(stream, { type: 'done', id: request.id, length });
        } finally {
          session.queued--;
          session.cancelled.delete(request.id);
        }
      })
      .catch((error: unknown) => {
        // Keep the chain alive: one failed send (session closing under us) must not stall the next.
        logger.debug({ err: (error as Error).message }, 'edge: send failed');
      });
  };

  const acceptStream = (session: Session, stream: Duplex): void => {
    const reader = createFrameReader((message) => {
      if (message.type === 'request') handleRequest(session, stream, message);
      else if (message.type === 'cancel') session.cancelled.add(message.id);
      else throw new EdgeError('EDGE_PROTOCOL', `unexpected ${message.type} frame from a client`);
    });
    stream.on('data', (chunk: Uint8Array) => {
      try {
        reader(chunk);
      } catch (error) {
        // A malformed frame ends this stream, never the edge.
        logger.debug({ err: (error as Error).message }, 'edge: closing stream after a malformed frame');
        write(stream, { type: 'error', id: 0, code: ErrorCode.MALFORMED, message: (error as Error).message });
        stream.end();
      }
    });
    stream.on('error', () => {});
  };

  endpoint.onConnection((connection) => {
    if (full()) {
      stats.sessionsRefused++;
      connection.close(EDGE_BUSY_CLOSE, 'edge full');
      return;
    }
    const session: Session = {
      connection,
      sendChain: Promise.resolve(),
      queued: 0,
      cancelled: new Set(),
      closed: false,
    };
    if (options.sessionBytesPerSecond)
      session.bucket = createTokenBucket({ bytesPerSecond: options.sessionBytesPerSecond }, { clock });
    sessions.add(session);
    stats.sessions = sessions.size;
    connection.onStream((stream) => acceptStream(session, stream));
    connection.onClose(() => {
      session.closed = true;
      sessions.delete(session);
      stats.sessions = sessions.size;
    });
  });

  const trackerInfo = (): TrackerEdgeInfo => ({
    id: options.id,
    address: advertised(),
    publicKey: Buffer.from(endpoint.publicKey).toString('base64'),
    region: options.region,
    load: load(),
    capacity: Math.round(options.capacityBytesPerSecond ?? 0),
  });

  if (components.tracker)
    announcer = createTrackerAnnouncer(
      { self: trackerInfo },
      { client: components.tracker, clock, logger: logger.child({ part: 'tracker' }) },
    );

  return {
    endpoint,
    publicKey: endpoint.publicKey,
    address: () => endpoint.localAddress(),
    load,
    stats: () => ({
      ...stats,
      requestsFailed: { ...stats.requestsFailed },
      stunAnswered: stun?.stats().answered ?? 0,
    }),
    trackerInfo,
    start() {
      announcer?.start();
    },
    async close() {
      announcer?.stop();
      stun?.close();
      stun = undefined;
      for (const session of sessions) session.connection.close(0, 'edge shutting down');
      await endpoint.close();
    },
  };
}
