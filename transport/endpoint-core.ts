import type { Address, Logger, Random } from '../runtime/index.ts';
import type { RateHistory } from './congestion/index.ts';
import { ConnectionCore, hexOf } from './connection.ts';
import { dh, type KeyPair, keyPairFromSeed, open } from './crypto.ts';
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
  type ShortHeader,
} from './packet.ts';
import { createRetryTokens, type RetryTokens } from './retry-token.ts';

/**
 * The sans-IO endpoint: one UDP socket's worth of PZ sessions, client and server at once. It routes
 * datagrams by connection ID, creates server sessions from INITIALs (answering version mismatches and
 * issuing stateless retries under load), and multiplexes every session's output round-robin.
 * Datagrams whose first byte is below 0x40 (STUN, hole punching) are passed to `onRaw`.
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
  private order: ConnectionCore[] = [];
  private cursor = 0;
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
    this.earliestDeadline = now;
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

  private smartStart(): { rateHistory?: RateHistory; networkContext?: string } {
    const out: { rateHistory?: RateHistory; networkContext?: string } = {};
    if (this.options.rateHistory) out.rateHistory = this.options.rateHistory;
    if (this.options.networkContext !== undefined) out.networkContext = this.options.networkContext;
    return out;
  }

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
    this.order.push(connection);
  }

  /** Never throws: anything malformed is counted and dropped. */
  handleDatagram(now: number, from: Address, bytes: Uint8Array): void {
    this.counters.datagramsReceived++;
    if (bytes.length === 0) return;
    if (!isPzPacket(bytes[0]!)) {
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

  private dispatch(now: number, from: Address, packet: ParsedPacket, size: number): void {
    const header = packet.header;
    switch (header.kind) {
      case 'short': {
        const connection = this.byCid(header.dcid);
        if (!connection) {
          this.counters.unknownConnection++;
          return;
        }
        const before = connection.counters;
        const auth = before.authFailures;
        const replays = before.replays;
        connection.handleShort(now, from, packet as ParsedPacket<ShortHeader>, size);
        this.counters.authFailures += connection.counters.authFailures - auth;
        this.counters.replays += connection.counters.replays - replays;
        return;
      }
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
    this.add(connection);
    this.byInitialDcid.set(dcidHex, connection);
    this.hooks.accepted(connection);
  }

  private halfOpen(): number {
    let n = 0;
    for (const connection of this.byInitialDcid.values()) if (connection.state === 'handshake') n++;
    return n;
  }

  /** Next datagram to send, round-robin across sessions. */
  pollTransmit(now: number): Transmit | undefined {
    const queued = this.outbox.shift();
    if (queued) return queued;
    const uplinkRate = this.options.maxSendRateBps / 8;
    if (this.uplink) {
      const wait = this.uplink.delay(now, uplinkRate, 1200);
      if (wait > 0.05) {
        this.uplinkWakeAt = now + wait;
        return undefined;
      }
      this.uplinkWakeAt = undefined;
    }
    const n = this.order.length;
    for (let i = 0; i < n; i++) {
      if (this.cursor >= this.order.length) this.cursor = 0;
      const connection = this.order[this.cursor]!;
      this.cursor++;
      const bytes = connection.pollTransmit(now);
      if (bytes) {
        this.uplink?.onSent(now, uplinkRate, bytes.length);
        return { to: connection.path, bytes };
      }
    }
    return undefined;
  }

  pollTimeout(): number | undefined {
    let earliest: number | undefined = this.uplinkWakeAt;
    for (const connection of this.order) {
      const t = connection.nextTimeout();
      if (t !== undefined && (earliest === undefined || t < earliest)) earliest = t;
    }
    // While the uplink cap holds everything back, work that is due (an ACK, a probe) cannot leave
    // before the cap allows it anyway: waking earlier would only spin.
    if (this.uplinkWakeAt !== undefined && earliest !== undefined && earliest < this.uplinkWakeAt) {
      earliest = this.uplinkWakeAt;
    }
    this.earliestDeadline = earliest;
    return earliest;
  }

  /** Deadline computed by the last pollTimeout; nothing timer-driven can be due before it. */
  private earliestDeadline: number | undefined = 0;

  handleTimeout(now: number): void {
    if (this.earliestDeadline === undefined || now < this.earliestDeadline) return;
    let removed = false;
    for (const connection of this.order) {
      const t = connection.nextTimeout();
      if (t !== undefined && t <= now) connection.handleTimeout(now);
      if (connection.isClosed) removed = true;
    }
    if (removed) this.sweep();
  }

  /** Forgets sessions that reached `closed`. */
  sweep(): void {
    const alive: ConnectionCore[] = [];
    for (const connection of this.order) {
      if (connection.isClosed) {
        this.connections.delete(cidKey(connection.localCid));
        for (const [key, value] of this.byInitialDcid)
          if (value === connection) this.byInitialDcid.delete(key);
      } else {
        alive.push(connection);
      }
    }
    this.order = alive;
    if (this.cursor >= alive.length) this.cursor = 0;
  }

  /** Closes every session (CONNECTION_CLOSE is still sent on the next polls). */
  closeAll(now: number, code: number = CloseCode.ENDPOINT_CLOSING, reason = 'endpoint closing'): void {
    this.earliestDeadline = now;
    for (const connection of this.order) connection.close(now, code, reason);
  }
}

/**
 * Map key for a local connection ID: its first 53 bits as a number (local CIDs are CID_LENGTH random
 * bytes, and freshCid never issues two with the same key). Any other length gets -1, which no session
 * has. Lookups still compare the full CID.
 */
function cidKey(cid: Uint8Array): number {
  if (cid.length !== CID_LENGTH) return -1;
  const hi = ((cid[0]! << 24) | (cid[1]! << 16) | (cid[2]! << 8) | cid[3]!) >>> 0;
  const lo = ((cid[4]! << 24) | (cid[5]! << 16) | (cid[6]! << 8) | cid[7]!) >>> 0;
  return hi * 2 ** 21 + (lo >>> 11);
}

function sameCid(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
