import type { Address, Logger, Random } from '../runtime/index.ts';
import { ConnectionCore, type ConnectionScheduler, type ConnectionSetup, hexOf } from './connection.ts';
import { dh, type KeyPair, keyPairFromSeed, open } from './crypto.ts';
import { DeadlineHeap } from './deadline-heap.ts';
import { CloseCode, TransportError } from './errors.ts';
import { decodeFrames } from './frames.ts';
import { initialKey, serverSessionKeys } from './handshake.ts';
import type { ResolvedOptions } from './options.ts';
import { Pacer } from './pacer.ts';
import {
  type AnswerHeader,
  CID_LENGTH,
  encodeUnsealed,
  type InitialHeader,
  isPzPacket,
  MIN_INITIAL_SIZE,
  type ParsedPacket,
  PZ_VERSION,
  parsePacket,
  SHORT_HEADER_LENGTH,
  TAG_LENGTH,
} from './packet.ts';
import { createRetryTokens, type RetryTokens } from './retry-token.ts';

/**
 * The sans-IO endpoint: one UDP socket's worth of PZ sessions, client and server at once. It routes
 * datagrams by connection ID, creates server sessions from INITIALs (answering version mismatches and
 * issuing stateless retries under load), and multiplexes every session's output round-robin.
 * Datagrams whose first byte is below 0x40 (STUN, hole punching) are passed to `onRaw`.
 *
 * Cost stays proportional to the sessions that have something to do, not to the sessions held: a
 * session is polled only while it is in the ready queue (something happened to it, or one of its
 * timers fired), and its next deadline lives in an indexed heap, so an endpoint holding thousands of
 * idle sessions touches none of them when one busy session's timer fires.
 */
export interface EndpointCounters {
  datagramsReceived: number;
  rawDatagrams: number;
  malformed: number;
  unknownConnection: number;
  authFailures: number;
  replays: number;
  retriesSent: number;
  versionNegotiations: number;
  refused: number;
}

export interface EndpointCoreHooks {
  /** A server session was created from an INITIAL (the driver wraps it before it can emit events). */
  accepted(connection: ConnectionCore): void;
  raw(bytes: Uint8Array, from: Address): void;
  /** A session reached `closed` and was forgotten. */
  removed?(connection: ConnectionCore): void;
}

export interface Transmit {
  to: Address;
  bytes: Uint8Array;
}

export class EndpointCore {
  readonly staticKey: KeyPair;
  readonly counters: EndpointCounters = {
    datagramsReceived: 0,
    rawDatagrams: 0,
    malformed: 0,
    unknownConnection: 0,
    authFailures: 0,
    replays: 0,
    retriesSent: 0,
    versionNegotiations: 0,
    refused: 0,
  };
  /** Sessions by {@link cidKey} of their local CID (a number: no hex string per datagram). */
  private readonly connections = new Map<number, ConnectionCore>();
  /** Server sessions by the client's original destination CID, to recognise repeated INITIALs. */
  private readonly byInitialDcid = new Map<string, ConnectionCore>();
  /** Server sessions still in their handshake (a superset: pruned when counted). */
  private readonly halfOpenSessions = new Set<ConnectionCore>();
  /** Sessions that may have something to send, in round-robin order from {@link readyHead}. */
  private ready: ConnectionCore[] = [];
  private readyHead = 0;
  /** Every session's next deadline. */
  private readonly timers = new DeadlineHeap<ConnectionCore>();
  private readonly scheduler: ConnectionScheduler = {
    wake: (connection) => this.markReady(connection),
    due: (connection, at) => {
      if (connection.heapIndex < 0 || at < connection.deadline) this.timers.set(connection, at);
    },
  };
  private readonly outbox: Transmit[] = [];
  private readonly retryTokens: RetryTokens;
  private readonly uplink: Pacer | undefined;
  private uplinkWakeAt: number | undefined;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly random: Random,
    private readonly logger: Logger,
    private readonly hooks: EndpointCoreHooks,
  ) {
    this.staticKey = keyPairFromSeed(options.staticPrivateKey);
    this.retryTokens = createRetryTokens(random.bytes(32));
    if (options.maxSendRateBps > 0) this.uplink = new Pacer(16 * 1200);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Starts a client session; its INITIAL goes out on the next poll. */
  connect(now: number, remote: Address, remoteStatic: Uint8Array, initPayload: Uint8Array): ConnectionCore {
    if (remoteStatic.length !== 32)
      throw new TransportError('KEY_INVALID', 'remote static key must be 32 bytes');
    if (initPayload.length > 1000)
      throw new TransportError('INIT_TOO_LARGE', 'init payload must be <= 1000 bytes');
    const ephemeral = keyPairFromSeed(this.random.bytes(32));
    const es = dh(ephemeral.privateKey, remoteStatic);
    if (!es) throw new TransportError('KEY_INVALID', 'remote static key is not a usable X25519 key');
    const originalDcid = this.random.bytes(CID_LENGTH);
    const localCid = this.freshCid();
    const connection = new ConnectionCore({
      role: 'client',
      localCid,
      remoteCid: originalDcid,
      remoteAddress: remote,
      remoteStatic: new Uint8Array(remoteStatic),
      options: this.options,
      random: this.random,
      logger: this.logger,
      now,
      client: {
        version: this.options.version,
        originalDcid,
        token: new Uint8Array(0),
        ephemeral,
        staticKey: this.staticKey,
        serverStatic: remoteStatic,
        es,
        initialKey: initialKey(es, originalDcid, ephemeral.publicKey, remoteStatic),
        initPayload,
      },
      ...this.smartStart(),
    });
    this.add(connection);
    return connection;
  }

  private smartStart(): Pick<ConnectionSetup, 'rateHistory' | 'networkContext' | 'otherSenders'> {
    const out: Pick<ConnectionSetup, 'rateHistory' | 'networkContext' | 'otherSenders'> = {};
    const context = this.options.networkContext;
    // Read per session: a device that changes networks (Wi-Fi to cellular) changes its context.
    const current = typeof context === 'function' ? context() : context;
    if (!this.options.rateHistory || current === undefined) return out;
    out.rateHistory = this.options.rateHistory;
    out.networkContext = current;
    out.otherSenders = this.otherSenders;
    return out;
  }

  /**
   * Sessions other than `self` with data in flight (smart start divides the uplink among them). A scan:
   * it runs at a session's start and at its rate records (every >= 250 ms), and only endpoints with a
   * network context (agents, a few dozen sessions) use it; an edge with thousands of sessions that
   * turned smart start on would want a running count instead.
   */
  private readonly otherSenders = (self: ConnectionCore): number => {
    let n = 0;
    for (const connection of this.connections.values()) if (connection !== self && connection.isSending) n++;
    return n;
  };

  private freshCid(): Uint8Array {
    for (;;) {
      const cid = this.random.bytes(CID_LENGTH);
      if (!this.connections.has(cidKey(cid))) return cid;
    }
  }

  private byCid(cid: Uint8Array): ConnectionCore | undefined {
    const connection = this.connections.get(cidKey(cid));
    return connection !== undefined && sameCid(connection.localCid, cid) ? connection : undefined;
  }

  private add(connection: ConnectionCore): void {
    this.connections.set(cidKey(connection.localCid), connection);
    connection.scheduler = this.scheduler;
    this.markReady(connection);
  }

  private markReady(connection: ConnectionCore): void {
    if (connection.ready) return;
    connection.ready = true;
    this.ready.push(connection);
  }

  /** Something is queued or some session is ready: the driver should pump now. */
  get hasWork(): boolean {
    return this.outbox.length > 0 || this.readyHead < this.ready.length;
  }

  /** Never throws: anything malformed is counted and dropped. */
  handleDatagram(now: number, from: Address, bytes: Uint8Array): void {
    this.counters.datagramsReceived++;
    const length = bytes.length;
    if (length === 0) return;
    const first = bytes[0]!;
    // Short header (0x40, or 0x44 with the key-phase bit): the hot path, read in place.
    if ((first & 0xfb) === 0x40 && length >= SHORT_HEADER_LENGTH + TAG_LENGTH) {
      this.handleShort(now, from, bytes, first);
      return;
    }
    if (!isPzPacket(first)) {
      this.counters.rawDatagrams++;
      try {
        this.hooks.raw(bytes, from);
      } catch (error) {
        this.logger.warn({ err: error }, 'raw datagram handler threw');
      }
      return;
    }
    let packet: ParsedPacket;
    try {
      packet = parsePacket(bytes);
    } catch {
      this.counters.malformed++;
      return;
    }
    try {
      this.dispatch(now, from, packet, bytes.length);
    } catch (error) {
      // A bug in a handler must not take the endpoint down with it.
      this.counters.malformed++;
      this.logger.warn({ err: error }, 'datagram handling failed');
    }
  }

  private handleShort(now: number, from: Address, bytes: Uint8Array, first: number): void {
    const connection = this.connections.get(cidKeyAt(bytes, 1));
    if (connection === undefined || !sameCidAt(connection.localCid, bytes, 1)) {
      this.counters.unknownConnection++;
      return;
    }
    const pn = ((bytes[9]! << 24) | (bytes[10]! << 16) | (bytes[11]! << 8) | bytes[12]!) >>> 0;
    const counters = connection.counters;
    const auth = counters.authFailures;
    const replays = counters.replays;
    try {
      connection.handleShort(now, from, bytes, pn, (first >>> 2) & 1);
    } catch (error) {
      // A bug in a handler must not take the endpoint down with it.
      this.counters.malformed++;
      this.logger.warn({ err: error }, 'datagram handling failed');
    }
    this.counters.authFailures += counters.authFailures - auth;
    this.counters.replays += counters.replays - replays;
  }

  private dispatch(now: number, from: Address, packet: ParsedPacket, size: number): void {
    const header = packet.header;
    switch (header.kind) {
      case 'short':
        // Short headers take the fast path; only a malformed one gets here, and parsePacket threw.
        this.counters.malformed++;
        return;
      case 'answer': {
        const connection = this.byCid(header.dcid);
        if (connection?.role !== 'client') {
          this.counters.unknownConnection++;
          return;
        }
        if (!connection.handleAnswer(now, from, packet as ParsedPacket<AnswerHeader>, size))
          this.counters.authFailures++;
        return;
      }
      case 'retry': {
        const connection = this.byCid(header.dcid);
        if (connection && connection.role === 'client') connection.handleRetry(header.token);
        return;
      }
      case 'version': {
        const connection = this.byCid(header.dcid);
        if (connection && connection.role === 'client' && !header.versions.includes(this.options.version)) {
          connection.handleVersionMismatch(now, header.versions);
        }
        return;
      }
      case 'initial':
        this.handleInitial(now, from, packet as ParsedPacket<InitialHeader>, size);
        return;
    }
  }

  private handleInitial(now: number, from: Address, packet: ParsedPacket<InitialHeader>, size: number): void {
    const header = packet.header;
    // Never answer a datagram smaller than the padded minimum: that is what caps amplification.
    if (size < MIN_INITIAL_SIZE) {
      this.counters.malformed++;
      return;
    }
    // Our short header carries CID_LENGTH-byte connection IDs: a client choosing another length
    // could never be answered.
    if (header.scid.length !== CID_LENGTH) {
      this.counters.malformed++;
      return;
    }
    if (header.version !== this.options.version) {
      this.counters.versionNegotiations++;
      this.outbox.push({
        to: from,
        bytes: encodeUnsealed({
          kind: 'version',
          dcid: header.scid,
          scid: header.dcid,
          versions: [PZ_VERSION],
        }),
      });
      return;
    }
    const dcidHex = hexOf(header.dcid);
    const existing = this.byInitialDcid.get(dcidHex);
    if (existing) {
      existing.handleRepeatedInitial(size);
      return;
    }
    if (this.connections.size >= this.options.maxConnections) {
      this.counters.refused++;
      return;
    }
    let addressValidated = false;
    if (header.token.length > 0) {
      if (!this.retryTokens.validate(header.token, from, header.dcid, now)) {
        this.counters.authFailures++;
        return;
      }
      addressValidated = true;
    } else if (this.halfOpen() >= this.options.retryThreshold) {
      this.counters.retriesSent++;
      const token = this.retryTokens.issue(from, header.dcid, now, this.random.bytes(12));
      this.outbox.push({
        to: from,
        bytes: encodeUnsealed({
          kind: 'retry',
          version: header.version,
          dcid: header.scid,
          scid: header.dcid,
          token,
        }),
      });
      return;
    }
    const es = dh(this.staticKey.privateKey, header.ephemeral);
    if (!es) {
      this.counters.authFailures++;
      return;
    }
    const key = initialKey(es, header.dcid, header.ephemeral, this.staticKey.publicKey);
    const plain = open(key, header.pn, packet.headerBytes, packet.payload);
    if (!plain) {
      this.counters.authFailures++;
      return;
    }
    const init = decodeFrames(plain).find((f) => f.type === 'init');
    if (init?.type !== 'init') {
      this.counters.malformed++;
      return;
    }
    const ephemeral = keyPairFromSeed(this.random.bytes(32));
    const localCid = this.freshCid();
    const clientStatic = new Uint8Array(init.staticKey);
    const keys = serverSessionKeys(ephemeral, es, header.ephemeral, clientStatic, {
      version: header.version,
      dcid: header.dcid,
      clientCid: header.scid,
      serverCid: localCid,
      serverStatic: this.staticKey.publicKey,
    });
    if (!keys) {
      this.counters.authFailures++;
      return;
    }
    const initPayload = new Uint8Array(init.payload);
    let reply: Uint8Array | undefined;
    try {
      reply = this.options.onInit?.(initPayload, from);
    } catch (error) {
      this.logger.warn({ err: error }, 'onInit threw; answering without a reply');
    }
    if (reply !== undefined && reply.length > 1000) reply = reply.subarray(0, 1000);
    const connection = new ConnectionCore({
      role: 'server',
      localCid,
      remoteCid: new Uint8Array(header.scid),
      remoteAddress: from,
      remoteStatic: clientStatic,
      options: this.options,
      random: this.random,
      logger: this.logger,
      now,
      server: {
        version: header.version,
        keys,
        ephemeralPublic: ephemeral.publicKey,
        clientStatic,
        initPayload,
        reply,
        receivedBytes: size,
        addressValidated,
        clientInitialPn: header.pn,
      },
      ...this.smartStart(),
    });
    connection.initialKey = dcidHex;
    this.add(connection);
    this.byInitialDcid.set(dcidHex, connection);
    this.halfOpenSessions.add(connection);
    this.hooks.accepted(connection);
  }

  private halfOpen(): number {
    for (const connection of this.halfOpenSessions)
      if (connection.state !== 'handshake') this.halfOpenSessions.delete(connection);
    return this.halfOpenSessions.size;
  }

  /** Next datagram to send, round-robin across the sessions that have work. */
  pollTransmit(now: number): Transmit | undefined {
    const queued = this.outbox.shift();
    if (queued) return queued;
    if (this.readyHead >= this.ready.length) return undefined;
    const uplinkRate = this.options.maxSendRateBps / 8;
    if (this.uplink) {
      const wait = this.uplink.delay(now, uplinkRate, 1200);
      if (wait > 0.05) {
        this.uplinkWakeAt = now + wait;
        return undefined;
      }
      this.uplinkWakeAt = undefined;
    }
    const ready = this.ready;
    while (this.readyHead < ready.length) {
      const connection = ready[this.readyHead++]!;
      const bytes = connection.pollTransmit(now);
      if (bytes) {
        // Round robin: it goes to the back of the queue with its next datagram.
        ready.push(connection);
        if (this.readyHead >= 1024 && this.readyHead * 2 >= ready.length) {
          this.ready = ready.slice(this.readyHead);
          this.readyHead = 0;
        }
        this.uplink?.onSent(now, uplinkRate, bytes.length);
        return { to: connection.path, bytes };
      }
      connection.ready = false;
      this.settle(now, connection);
    }
    ready.length = 0;
    this.readyHead = 0;
    return undefined;
  }

  /** A session polled empty: forget it if it closed, else file its next deadline. */
  private settle(now: number, connection: ConnectionCore): void {
    if (connection.isClosed) {
      this.forget(connection);
      return;
    }
    let deadline = connection.nextTimeout();
    if (deadline === undefined) {
      this.timers.remove(connection);
      return;
    }
    // Due but nothing could be sent (a limit holds it back): do not spin at this instant.
    if (deadline <= now) deadline = now + 1;
    this.timers.set(connection, deadline);
  }

  pollTimeout(): number | undefined {
    let earliest: number | undefined = this.uplinkWakeAt;
    const next = this.timers.peek();
    if (next !== undefined && (earliest === undefined || next.deadline < earliest)) earliest = next.deadline;
    // While the uplink cap holds everything back, work that is due (an ACK, a probe) cannot leave
    // before the cap allows it anyway: waking earlier would only spin.
    if (this.uplinkWakeAt !== undefined && earliest !== undefined && earliest < this.uplinkWakeAt) {
      earliest = this.uplinkWakeAt;
    }
    return earliest;
  }

  /** Runs the timers of the sessions that are due (only those) and queues them for a poll. */
  handleTimeout(now: number): void {
    for (;;) {
      const connection = this.timers.peek();
      if (connection === undefined || connection.deadline > now) return;
      this.timers.remove(connection);
      connection.handleTimeout(now);
      this.markReady(connection);
    }
  }

  private forget(connection: ConnectionCore): void {
    this.timers.remove(connection);
    const key = cidKey(connection.localCid);
    if (this.connections.get(key) === connection) this.connections.delete(key);
    if (connection.initialKey !== undefined && this.byInitialDcid.get(connection.initialKey) === connection)
      this.byInitialDcid.delete(connection.initialKey);
    this.halfOpenSessions.delete(connection);
    this.hooks.removed?.(connection);
  }

  /** Closes every session (CONNECTION_CLOSE is still sent on the next polls). */
  closeAll(now: number, code: number = CloseCode.ENDPOINT_CLOSING, reason = 'endpoint closing'): void {
    for (const connection of [...this.connections.values()]) connection.close(now, code, reason);
  }
}

/**
 * Map key for a local connection ID: its first 53 bits as a number (local CIDs are CID_LENGTH random
 * bytes, and freshCid never issues two with the same key). Any other length gets -1, which no session
 * has. Lookups still compare the full CID.
 */
function cidKey(cid: Uint8Array): number {
  return cid.length === CID_LENGTH ? cidKeyAt(cid, 0) : -1;
}

/** {@link cidKey} of the CID_LENGTH bytes at `at` (read in place from a datagram). */
function cidKeyAt(bytes: Uint8Array, at: number): number {
  const hi = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  const lo = ((bytes[at + 4]! << 24) | (bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!) >>> 0;
  return hi * 2 ** 21 + (lo >>> 11);
}

function sameCidAt(cid: Uint8Array, bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < CID_LENGTH; i++) if (cid[i] !== bytes[at + i]) return false;
  return true;
}

function sameCid(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
