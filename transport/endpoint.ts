import { Duplex } from 'node:stream';
import type { Address, Clock, Logger, Random, TimerHandle, UdpSocket } from '../runtime/index.ts';
import { type ConnectionCore, hexOf } from './connection.ts';
import { EndpointCore, type EndpointCounters } from './endpoint-core.ts';
import { CloseCode, TransportError } from './errors.ts';
import { type EndpointOptions, resolveOptions } from './options.ts';

/**
 * The driver: binds the sans-IO {@link EndpointCore} to a runtime UdpSocket and Clock. The same code
 * runs on node:dgram with real timers and on the lab's simulated network in virtual time. It owns
 * the socket it is given and turns session events into node:stream Duplexes and callbacks.
 */
export interface Block {
  object: number;
  offset: number;
  data: Uint8Array;
}

export interface ConnectionStats {
  rttMs: number;
  minRttMs: number;
  /** Bottleneck delivery-rate estimate, bits per second. */
  deliveryRateBps: number;
  bytesSent: number;
  bytesReceived: number;
  packetsLost: number;
}

export interface CloseInfo {
  code: number;
  reason: string;
  remote: boolean;
}

export interface Connection {
  readonly id: string;
  remoteAddress(): Address;
  readonly remoteStaticKey: Uint8Array;
  /** Server side: what the client sent in its INITIAL. */
  readonly initPayload?: Uint8Array;
  /** Client side: what the server answered (onInit); server side: what this side answered. */
  readonly initReply?: Uint8Array;
  openStream(): Duplex;
  onStream(handler: (s: Duplex) => void): () => void;
  /** Queues a block for unordered reliable delivery; false = window full, wait for onDrain. */
  sendBlock(block: Block): boolean;
  onBlock(handler: (b: Block) => void): () => void;
  onDrain(handler: () => void): () => void;
  stats(): ConnectionStats;
  close(code?: number, reason?: string): void;
  onClose(handler: (info: CloseInfo) => void): () => void;
}

export interface ConnectOptions {
  /** Carried in the INITIAL (<= 1000 bytes); the server's onInit sees it and answers in one round trip. */
  initPayload?: Uint8Array;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface Endpoint {
  readonly publicKey: Uint8Array;
  localAddress(): Address;
  connect(remote: Address, remoteStaticKey: Uint8Array, opts?: ConnectOptions): Promise<Connection>;
  onConnection(handler: (c: Connection) => void): () => void;
  /** Non-PZ datagrams: STUN (first byte 0x00-0x03) and hole-punch messages (0x10-0x1f). */
  onRawDatagram(handler: (bytes: Uint8Array, from: Address) => void): () => void;
  sendRaw(to: Address, bytes: Uint8Array): void;
  /** Datagram counters (drops by reason), for tests and metrics. */
  stats(): EndpointCounters & { connections: number };
  close(): Promise<void>;
}

export interface EndpointComponents {
  socket: UdpSocket;
  clock: Clock;
  random: Random;
  logger: Logger;
}

/** Datagrams sent per pump before yielding, so receiving is not starved on a real event loop. */
const MAX_BURST = 128;

function subscribe<T>(set: Set<T>, handler: T): () => void {
  set.add(handler);
  return () => {
    set.delete(handler);
  };
}

export function createEndpoint(options: EndpointOptions, components: EndpointComponents): Endpoint {
  const resolved = resolveOptions(options);
  const { socket, clock, random, logger } = components;
  const connectionHandlers = new Set<(c: Connection) => void>();
  const rawHandlers = new Set<(bytes: Uint8Array, from: Address) => void>();
  const wrappers = new Map<ConnectionCore, PzConnection>();
  let timer: TimerHandle | undefined;
  let timerAt: number | undefined;
  let pumpQueued = false;
  let closed = false;
  // Every datagram the core hands out is a fresh buffer nobody writes to again (a slab view, or a
  // handshake packet of its own), so the socket may keep it rather than copy it.
  const sendTransmit: (to: Address, bytes: Uint8Array) => void = socket.sendOwned
    ? socket.sendOwned.bind(socket)
    : socket.send.bind(socket);

  const core = new EndpointCore(resolved, random, logger, {
    accepted(connection) {
      const wrapper = new PzConnection(connection, schedule, clock);
      wrappers.set(connection, wrapper);
      wrapper.onEstablished = () => {
        for (const handler of connectionHandlers) handler(wrapper);
      };
    },
    raw(bytes, from) {
      for (const handler of rawHandlers) handler(bytes, from);
    },
    removed(connection) {
      const wrapper = wrappers.get(connection);
      if (wrapper === undefined) return;
      wrappers.delete(connection);
      wrapper.finalize();
    },
  });

  function schedule(): void {
    if (pumpQueued || closed) return;
    pumpQueued = true;
    queueMicrotask(pump);
  }

  function pump(): void {
    pumpQueued = false;
    if (closed) return;
    const now = clock.now();
    core.handleTimeout(now);
    let sent = 0;
    for (;;) {
      const transmit = core.pollTransmit(now);
      if (!transmit) break;
      sendTransmit(transmit.to, transmit.bytes);
      if (++sent >= MAX_BURST) break;
    }
    if (sent >= MAX_BURST) {
      arm(now, now);
      return;
    }
    let deadline = core.pollTimeout();
    // Something is due but nothing could be sent (blocked by a limit): do not spin at this instant.
    if (deadline !== undefined && deadline <= now && sent === 0) deadline = now + 1;
    if (deadline !== undefined) arm(now, deadline);
  }

  function arm(now: number, deadline: number): void {
    // An armed timer that fires no later than needed is kept: the pump it triggers re-arms anyway.
    if (timer !== undefined && timerAt !== undefined && timerAt <= deadline) return;
    if (timer !== undefined) clock.clearTimer(timer);
    timerAt = deadline;
    timer = clock.setTimer(Math.max(0, deadline - now), () => {
      timer = undefined;
      timerAt = undefined;
      schedule();
    });
  }

  const unsubscribe = socket.onMessage((bytes, from) => {
    if (closed) return;
    const now = clock.now();
    core.handleDatagram(now, from, bytes);
    // Most datagrams of a bulk transfer only deliver data: no pump unless a session has work now,
    // only the timer for a deadline the datagram moved earlier (an ACK's).
    if (core.hasWork) schedule();
    else if (!pumpQueued) {
      const deadline = core.pollTimeout();
      if (deadline !== undefined) arm(now, deadline);
    }
  });

  return {
    publicKey: core.staticKey.publicKey,
    localAddress: () => socket.localAddress(),
    connect(remote, remoteStaticKey, opts = {}) {
      if (closed) return Promise.reject(new TransportError('ENDPOINT_CLOSED', 'endpoint is closed'));
      if (opts.signal?.aborted) return Promise.reject(new TransportError('ABORTED', 'connect aborted'));
      let connection: ConnectionCore;
      try {
        connection = core.connect(
          clock.now(),
          remote,
          remoteStaticKey,
          opts.initPayload ?? new Uint8Array(0),
        );
      } catch (error) {
        return Promise.reject(error);
      }
      const wrapper = new PzConnection(connection, schedule, clock);
      wrappers.set(connection, wrapper);
      return new Promise<Connection>((resolve, reject) => {
        let settled = false;
        const settle = (error?: Error): void => {
          if (settled) return;
          settled = true;
          clock.clearTimer(deadline);
          opts.signal?.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve(wrapper);
        };
        const fail = (code: string, message: string): void => {
          settle(new TransportError(code, message));
          connection.close(clock.now(), CloseCode.HANDSHAKE_FAILED, message);
          schedule();
        };
        const timeoutMs = opts.timeoutMs ?? resolved.handshakeTimeoutMs;
        const deadline = clock.setTimer(timeoutMs, () =>
          fail('CONNECT_TIMEOUT', `no answer from ${remote.host}:${remote.port} within ${timeoutMs} ms`),
        );
        const onAbort = (): void => fail('ABORTED', 'connect aborted');
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        wrapper.onEstablished = () => settle();
        wrapper.onHandshakeClosed = (info) => {
          const code = info.code === CloseCode.VERSION_MISMATCH ? 'VERSION_MISMATCH' : 'CONNECT_FAILED';
          settle(new TransportError(code, `connect to ${remote.host}:${remote.port} failed: ${info.reason}`));
        };
        schedule();
      });
    },
    onConnection: (handler) => subscribe(connectionHandlers, handler),
    onRawDatagram: (handler) => subscribe(rawHandlers, handler),
    sendRaw(to, bytes) {
      if (!closed) socket.send(to, bytes);
    },
    stats: () => ({ ...core.counters, connections: core.connectionCount }),
    async close() {
      if (closed) return;
      core.closeAll(clock.now());
      // Flush CONNECTION_CLOSE frames before letting go of the socket.
      const now = clock.now();
      for (;;) {
        const transmit = core.pollTransmit(now);
        if (!transmit) break;
        sendTransmit(transmit.to, transmit.bytes);
      }
      closed = true;
      for (const wrapper of wrappers.values()) wrapper.finalize();
      wrappers.clear();
      if (timer !== undefined) clock.clearTimer(timer);
      unsubscribe();
      await socket.close();
    },
  };
}

/** Wraps one ConnectionCore as the public Connection and maps stream IDs to Duplexes. */
class PzConnection implements Connection {
  readonly id: string;
  onEstablished: () => void = () => {};
  onHandshakeClosed: (info: CloseInfo) => void = () => {};
  private readonly streams = new Map<number, PzStream>();
  private readonly streamHandlers = new Set<(s: Duplex) => void>();
  private readonly blockHandlers = new Set<(b: Block) => void>();
  private readonly drainHandlers = new Set<() => void>();
  private readonly closeHandlers = new Set<(info: CloseInfo) => void>();
  private established = false;
  private closeReported = false;

  constructor(
    readonly core: ConnectionCore,
    readonly schedule: () => void,
    private readonly clock: Clock,
  ) {
    this.id = hexOf(core.localCid);
    core.events = {
      established: () => {
        this.established = true;
        this.onEstablished();
      },
      streamOpened: (id) => {
        const stream = new PzStream(this, id);
        this.streams.set(id, stream);
        for (const handler of this.streamHandlers) handler(stream);
      },
      streamData: (id, data) => this.streams.get(id)?.deliver(data),
      streamFin: (id) => this.streams.get(id)?.deliverEnd(),
      streamReset: (id, code) => {
        const stream = this.streams.get(id);
        this.streams.delete(id);
        stream?.transportDestroy(new TransportError('STREAM_RESET', `stream reset by peer (code ${code})`));
      },
      streamWritable: (id) => this.streams.get(id)?.onWritable(),
      block: (object, offset, data) => {
        const block = { object, offset, data };
        for (const handler of this.blockHandlers) handler(block);
      },
      blockDrain: () => {
        for (const handler of this.drainHandlers) handler();
      },
      closed: (code, reason, remote) => this.reportClose({ code, reason, remote }),
    };
  }

  get remoteStaticKey(): Uint8Array {
    return this.core.remoteStatic;
  }

  get initPayload(): Uint8Array | undefined {
    return this.core.role === 'server' ? this.core.initPayload : undefined;
  }

  get initReply(): Uint8Array | undefined {
    return this.core.initReply;
  }

  remoteAddress(): Address {
    return this.core.path;
  }

  openStream(): Duplex {
    if (this.core.state !== 'established' && this.core.state !== 'handshake') {
      throw new TransportError('CONNECTION_CLOSED', 'connection is not open');
    }
    const id = this.core.openStream();
    const stream = new PzStream(this, id);
    this.streams.set(id, stream);
    this.schedule();
    return stream;
  }

  forgetStream(id: number): void {
    this.streams.delete(id);
  }

  onStream(handler: (s: Duplex) => void): () => void {
    return subscribe(this.streamHandlers, handler);
  }

  sendBlock(block: Block): boolean {
    const accepted = this.core.sendBlock(block.object, block.offset, block.data);
    if (accepted) this.schedule();
    return accepted;
  }

  onBlock(handler: (b: Block) => void): () => void {
    return subscribe(this.blockHandlers, handler);
  }

  onDrain(handler: () => void): () => void {
    return subscribe(this.drainHandlers, handler);
  }

  stats(): ConnectionStats {
    return this.core.stats();
  }

  close(code: number = CloseCode.NO_ERROR, reason = ''): void {
    this.core.close(this.clock.now(), code, reason);
    this.schedule();
  }

  onClose(handler: (info: CloseInfo) => void): () => void {
    return subscribe(this.closeHandlers, handler);
  }

  private reportClose(info: CloseInfo): void {
    if (this.closeReported) return;
    this.closeReported = true;
    if (!this.established) this.onHandshakeClosed(info);
    const error =
      info.code === CloseCode.NO_ERROR
        ? undefined
        : new TransportError('CONNECTION_CLOSED', `connection closed: ${info.reason || `code ${info.code}`}`);
    for (const stream of this.streams.values()) stream.transportDestroy(error);
    this.streams.clear();
    for (const handler of this.closeHandlers) handler(info);
  }

  /** The core reached `closed` (or the endpoint closed): make sure everyone heard. */
  finalize(): void {
    this.reportClose(
      this.core.closeInfo ?? { code: CloseCode.ENDPOINT_CLOSING, reason: 'endpoint closed', remote: false },
    );
  }
}

/** A reliable ordered stream as a Duplex; flow-control credit is returned as the reader consumes. */
class PzStream extends Duplex {
  private held = 0;
  private pendingWrite: ((error?: Error | null) => void) | undefined;
  private transportDone = false;
  private readonly sendBufferLimit = 1024 * 1024;

  constructor(
    private readonly connection: PzConnection,
    readonly streamId: number,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const core = this.connection.core;
    if (core.state === 'closed' || core.state === 'closing' || core.state === 'draining') {
      callback(new TransportError('CONNECTION_CLOSED', 'connection is closed'));
      return;
    }
    // Copy: the caller may reuse its buffer, and we keep ours until the peer acknowledges it.
    core.streamWrite(this.streamId, new Uint8Array(chunk));
    this.connection.schedule();
    if (core.streamUnacked(this.streamId) < this.sendBufferLimit) callback();
    else this.pendingWrite = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.transportDone) {
      callback();
      return;
    }
    this.connection.core.streamFinish(this.streamId);
    this.connection.schedule();
    callback();
  }

  override _read(): void {
    if (this.held > 0) {
      this.connection.core.streamConsumed(this.streamId, this.held);
      this.held = 0;
      this.connection.schedule();
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.transportDone) {
      this.transportDone = true;
      // A normal end (autoDestroy after both directions finished) lets the core finish delivery and
      // retransmission on its own; only an early or failed destroy resets the stream.
      if (error || !this.writableFinished) this.connection.core.streamReset(this.streamId, error ? 1 : 0);
      this.connection.forgetStream(this.streamId);
      this.connection.schedule();
    }
    const pending = this.pendingWrite;
    this.pendingWrite = undefined;
    pending?.(error ?? new TransportError('STREAM_DESTROYED', 'stream destroyed'));
    callback(error);
  }

  deliver(data: Uint8Array): void {
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (this.push(buffer)) {
      this.connection.core.streamConsumed(this.streamId, data.length);
      this.connection.schedule();
    } else {
      this.held += data.length;
    }
  }

  deliverEnd(): void {
    this.push(null);
  }

  onWritable(): void {
    if (!this.pendingWrite) return;
    if (this.connection.core.streamUnacked(this.streamId) >= this.sendBufferLimit) return;
    const callback = this.pendingWrite;
    this.pendingWrite = undefined;
    callback();
  }

  transportDestroy(error: Error | undefined): void {
    if (this.transportDone) return;
    this.transportDone = true;
    if (error) this.destroy(error);
    else {
      this.push(null);
      const pending = this.pendingWrite;
      this.pendingWrite = undefined;
      pending?.(new TransportError('CONNECTION_CLOSED', 'connection closed'));
      // Nothing can be sent any more: end our side too, so the stream closes once its reader has
      // drained what arrived. Left half-open, a stream whose peer closed cleanly (e.g. refused it)
      // never emitted 'close', and its owner waited on it forever.
      if (!this.writableEnded) this.end();
    }
  }
}
