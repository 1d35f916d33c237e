import { type ManifestSigned, pieceRange, releaseId, verifyPiece } from '../release/index.ts';
import { type Address, type Clock, type Logger, sleep, type TimerHandle } from '../runtime/index.ts';
import type { Connection, Endpoint } from '../transport/index.ts';
import { EdgeError, NoEdgeError } from './errors.ts';
import {
  createFrameReader,
  decodeInitReply,
  type EdgeMessage,
  encodeInit,
  encodeMessage,
  errorCodeName,
  type InitReply,
} from './protocol.ts';

/** An edge a device may try: from the tracker's announce answer, a pinned config, or a "better" hint. */
export interface EdgeCandidate {
  address: Address;
  /** Raw 32-byte X25519 static key, or its base64 (as the tracker lists it). */
  publicKey: Uint8Array | string;
  id?: string;
  region?: string;
}

export interface EdgeClientOptions {
  /** The device's region, sent in the init so edges can point at better edges nearby. */
  region?: string;
  /** Hard bound on discovery: after this, "no edge". Default 2000 ms. */
  probeTimeoutMs?: number;
  /** After the first answer, wait this long (at most) for better ones. Default 2 x that RTT + 20 ms. */
  graceMs?: number;
  /** Per piece request. Default 20 000 ms. */
  requestTimeoutMs?: number;
  /** Score = rtt x (1 + loadWeight x load); lower wins. Default 2. */
  loadWeight?: number;
  /** How often a BUSY request is retried before failing. Default 5. */
  busyRetries?: number;
}

export interface EdgeSession {
  readonly id: string;
  readonly address: Address;
  readonly reply: InitReply;
  readonly rttMs: number;
  readonly connection: Connection;
  /**
   * Verified bytes of piece `index`. Throws EdgeError (UNKNOWN_RELEASE, PIECE_OUT_OF_RANGE,
   * PIECE_CORRUPT, EDGE_TIMEOUT, EDGE_CLOSED, REQUEST_ABORTED, ...). Aborting `signal` cancels the
   * request at the edge too, so it stops spending its uplink on a piece nobody waits for.
   */
  fetchPiece(manifest: ManifestSigned, index: number, signal?: AbortSignal): Promise<Uint8Array>;
  close(): void;
  readonly closed: boolean;
}

export interface EdgeClient {
  /**
   * Probes all candidates at once (one-round-trip init), keeps the best by latency and load, closes
   * the rest. Throws NoEdgeError within `probeTimeoutMs` when none answers.
   */
  discoverEdges(candidates: EdgeCandidate[]): Promise<EdgeSession>;
  /** Fetches through the current session (discoverEdges first). */
  fetchPiece(manifest: ManifestSigned, index: number, signal?: AbortSignal): Promise<Uint8Array>;
  session(): EdgeSession | null;
  close(): void;
}

export function createEdgeClient(
  options: EdgeClientOptions,
  components: { endpoint: Endpoint; clock: Clock; logger: Logger },
): EdgeClient {
  const { endpoint, clock, logger } = components;
  const probeTimeoutMs = options.probeTimeoutMs ?? 2000;
  const loadWeight = options.loadWeight ?? 2;
  let current: EdgeSession | null = null;

  const discoverEdges = async (candidates: EdgeCandidate[]): Promise<EdgeSession> => {
    const started = clock.now();
    try {
      return await probeRound(candidates, probeTimeoutMs);
    } catch (error) {
      // Every answer was "busy": follow the better edges they named once, within the same deadline.
      const hints = (error as { hints?: EdgeCandidate[] }).hints ?? [];
      const probed = new Set(candidates.map((c) => `${c.address.host}:${c.address.port}`));
      const fresh = hints.filter((h) => !probed.has(`${h.address.host}:${h.address.port}`));
      const remaining = probeTimeoutMs - (clock.now() - started);
      if (fresh.length === 0 || remaining <= 0) throw error;
      return probeRound(fresh, remaining);
    }
  };

  const probeRound = (candidates: EdgeCandidate[], probeTimeoutMs: number): Promise<EdgeSession> =>
    new Promise((resolve, reject) => {
      const started = clock.now();
      const initPayload = encodeInit({ v: 1, ...(options.region ? { region: options.region } : {}) });
      const answers: Array<{
        candidate: EdgeCandidate;
        connection: Connection;
        reply: InitReply;
        rttMs: number;
      }> = [];
      let settled = 0;
      let decided = false;
      let graceTimer: TimerHandle | undefined;
      const abort = new AbortController();

      const decide = (): void => {
        if (decided) return;
        decided = true;
        clock.clearTimer(deadline);
        if (graceTimer) clock.clearTimer(graceTimer);
        abort.abort(new NoEdgeError('discovery finished'));
        const usable = answers.filter((a) => !a.reply.busy);
        const score = (a: (typeof answers)[number]) => a.rttMs * (1 + loadWeight * a.reply.load);
        usable.sort((a, b) => score(a) - score(b));
        const best = usable[0];
        for (const a of answers) if (a !== best) a.connection.close(0, 'another edge was chosen');
        if (!best) {
          const busy = answers.length;
          const error = new NoEdgeError(
            busy > 0
              ? `all ${busy} answering edges are busy`
              : `no edge answered within ${probeTimeoutMs} ms (${candidates.length} probed)`,
          );
          const hints: EdgeCandidate[] = answers.flatMap((a) =>
            a.reply.better.map((b) => ({
              address: b.address,
              publicKey: b.publicKey,
              id: b.id,
              region: b.region,
            })),
          );
          reject(Object.assign(error, { hints }));
          return;
        }
        current?.close();
        current = openSession(best.candidate, best.connection, best.reply, best.rttMs);
        logger.debug({ edge: current.id, rttMs: best.rttMs, load: best.reply.load }, 'edge chosen');
        resolve(current);
      };
      const deadline = clock.setTimer(probeTimeoutMs, decide);
      if (candidates.length === 0) {
        decide();
        return;
      }
      for (const candidate of candidates) {
        const key =
          typeof candidate.publicKey === 'string'
            ? new Uint8Array(Buffer.from(candidate.publicKey, 'base64'))
            : candidate.publicKey;
        endpoint
          .connect(candidate.address, key, { initPayload, signal: abort.signal, timeoutMs: probeTimeoutMs })
          .then(
            (connection) => {
              const reply = decodeInitReply(connection.initReply);
              if (decided || !reply) {
                connection.close(0, decided ? 'too late' : 'not an edge');
                return;
              }
              const rttMs = Math.max(0.01, connection.stats().rttMs || clock.now() - started);
              answers.push({ candidate, connection, reply, rttMs });
              // Give slower (but maybe less loaded) edges a moment, bounded by the probe deadline.
              if (!graceTimer && !reply.busy)
                graceTimer = clock.setTimer(options.graceMs ?? 2 * rttMs + 20, decide);
            },
            () => {},
          )
          .finally(() => {
            settled++;
            if (settled === candidates.length) decide();
          });
      }
    });

  const openSession = (
    candidate: EdgeCandidate,
    connection: Connection,
    reply: InitReply,
    rttMs: number,
  ): EdgeSession => {
    type Pending = {
      buffer: Uint8Array;
      received: number;
      resolve: () => void;
      reject: (error: Error) => void;
    };
    const pending = new Map<number, Pending>();
    let nextId = 1;
    let closed = false;
    const stream = connection.openStream();
    const reader = createFrameReader((message: EdgeMessage) => {
      const entry = pending.get(message.id);
      if (!entry) return;
      if (message.type === 'error') {
        pending.delete(message.id);
        entry.reject(new EdgeError(errorCodeName(message.code), `edge ${reply.id}: ${message.message}`));
      } else if (message.type === 'busy') {
        pending.delete(message.id);
        entry.reject(
          Object.assign(new EdgeError('EDGE_BUSY', `edge ${reply.id} is busy`), {
            retryAfterMs: message.retryAfterMs,
          }),
        );
      }
      // DONE needs no action: completion is counted from the bytes themselves.
    });
    stream.on('data', (chunk: Uint8Array) => {
      try {
        reader(chunk);
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'edge sent a malformed frame; closing the session');
        connection.close(0x102, 'malformed frame');
      }
    });
    stream.on('error', () => {});
    connection.onBlock((block) => {
      const entry = pending.get(block.object);
      if (!entry || block.offset + block.data.length > entry.buffer.length) return;
      entry.buffer.set(block.data, block.offset);
      entry.received += block.data.length;
      if (entry.received >= entry.buffer.length) {
        pending.delete(block.object);
        entry.resolve();
      }
    });
    connection.onClose((info) => {
      closed = true;
      for (const [id, entry] of pending) {
        pending.delete(id);
        entry.reject(
          new EdgeError('EDGE_CLOSED', `edge ${reply.id} closed the session: ${info.reason || info.code}`),
        );
      }
    });

    const requestOnce = (
      manifest: ManifestSigned,
      index: number,
      signal: AbortSignal | undefined,
    ): Promise<Uint8Array> => {
      if (closed)
        return Promise.reject(new EdgeError('EDGE_CLOSED', `session with edge ${reply.id} is closed`));
      if (signal?.aborted) return Promise.reject(aborted(index));
      const { length } = pieceRange(manifest, index);
      const id = nextId++;
      const buffer = new Uint8Array(length);
      return new Promise<Uint8Array>((resolve, reject) => {
        const onAbort = (): void => {
          if (!pending.delete(id)) return;
          clock.clearTimer(timer);
          if (!closed) stream.write(encodeMessage({ type: 'cancel', id }));
          reject(aborted(index));
        };
        const timer = clock.setTimer(options.requestTimeoutMs ?? 20_000, () => {
          if (!pending.delete(id)) return;
          signal?.removeEventListener('abort', onAbort);
          stream.write(encodeMessage({ type: 'cancel', id }));
          reject(new EdgeError('EDGE_TIMEOUT', `edge ${reply.id} did not deliver piece ${index} in time`));
        });
        signal?.addEventListener('abort', onAbort, { once: true });
        pending.set(id, {
          buffer,
          received: 0,
          resolve: () => {
            clock.clearTimer(timer);
            signal?.removeEventListener('abort', onAbort);
            resolve(buffer);
          },
          reject: (error) => {
            clock.clearTimer(timer);
            signal?.removeEventListener('abort', onAbort);
            reject(error);
          },
        });
        stream.write(
          encodeMessage({
            type: 'request',
            id,
            release: releaseId(manifest.product, manifest.version),
            piece: index,
            offset: 0,
            length,
          }),
        );
      });
    };

    return {
      id: reply.id,
      address: candidate.address,
      reply,
      rttMs,
      connection,
      get closed() {
        return closed;
      },
      async fetchPiece(manifest, index, signal) {
        if (!Number.isInteger(index) || index < 0 || index >= manifest.pieces.length)
          throw new EdgeError('PIECE_OUT_OF_RANGE', `piece ${index} out of range`);
        for (let attempt = 0; ; attempt++) {
          try {
            const bytes = await requestOnce(manifest, index, signal);
            if (!verifyPiece(manifest, index, bytes))
              throw new EdgeError(
                'PIECE_CORRUPT',
                `edge ${reply.id} sent a piece ${index} that fails its hash`,
              );
            return bytes;
          } catch (error) {
            const retryAfter = (error as { retryAfterMs?: number }).retryAfterMs;
            if (retryAfter === undefined || attempt >= (options.busyRetries ?? 5) || signal?.aborted)
              throw error;
            await sleep(clock, retryAfter, signal);
          }
        }
      },
      close() {
        if (!closed) connection.close(0, 'done');
        closed = true;
      },
    };
  };

  return {
    discoverEdges,
    async fetchPiece(manifest, index, signal) {
      if (!current || current.closed) throw new NoEdgeError('no edge session; call discoverEdges first');
      return current.fetchPiece(manifest, index, signal);
    },
    session: () => current,
    close() {
      current?.close();
      current = null;
    },
  };
}

function aborted(index: number): EdgeError {
  return new EdgeError('REQUEST_ABORTED', `request for piece ${index} was withdrawn`);
}
