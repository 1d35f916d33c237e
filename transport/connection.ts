import { type Address, type Logger, type Random, sameAddress } from '../runtime/index.ts';
import {
  type CongestionController,
  createBbr,
  createNewReno,
  MAX_SEGMENT,
  type RateHistory,
} from './congestion/index.ts';
import { type KeyPair, nextPacketKey, open, openPacket, type PacketKey, seal, sealPacket } from './crypto.ts';
import { CloseCode, DecodeError } from './errors.ts';
import { decodeGroup, encodeRepair, MAX_GROUP_SPAN, MAX_REPAIRS_PER_GROUP, PlaintextRing } from './fec.ts';
import {
  blockFrameOverhead,
  decodeFrame,
  decodeFrames,
  type Frame,
  FrameType,
  frameLength,
  isAckEliciting,
  REPAIR_FRAME_OVERHEAD,
  streamFrameOverhead,
  writeFrame,
} from './frames.ts';
import { clientSessionKeys, type SessionKeys } from './handshake.ts';
import type { ResolvedOptions } from './options.ts';
import { Pacer } from './pacer.ts';
import {
  type AnswerHeader,
  MAX_DATAGRAM,
  MIN_INITIAL_SIZE,
  type ParsedPacket,
  SHORT_HEADER_LENGTH,
  TAG_LENGTH,
  writeHeader,
} from './packet.ts';
import { RangeSet } from './range-set.ts';
import { type OutgoingBlock, type SentFrame, type SentPacket, SentPacketHandler } from './recovery.ts';
import { RttStats } from './rtt.ts';
import { Slab } from './slab.ts';
import { FlowControlError, RecvStream, SendStream } from './streams.ts';
import { Reader, Writer } from './varint.ts';

/**
 * One PZ session, sans-IO. The endpoint feeds it packets addressed to its connection ID and polls it
 * for datagrams to send and for its next deadline; the driver turns its events into Duplex streams
 * and callbacks. State machine:
 *
 *   client:  initial --(ANSWER)--> established --close()--> closing --3 PTO--> closed
 *   server:  handshake --(first 1-RTT packet)--> established          \--(CLOSE frame)--> draining
 *
 * idle timeout from any state -> closed (silently, as in QUIC).
 */
export interface ConnectionEvents {
  established(): void;
  streamOpened(id: number): void;
  streamData(id: number, data: Uint8Array): void;
  streamFin(id: number): void;
  streamReset(id: number, code: number): void;
  streamWritable(id: number): void;
  block(object: number, offset: number, data: Uint8Array): void;
  blockDrain(): void;
  closed(code: number, reason: string, remote: boolean): void;
}

const noop = (): void => {};
export const silentEvents: ConnectionEvents = {
  established: noop,
  streamOpened: noop,
  streamData: noop,
  streamFin: noop,
  streamReset: noop,
  streamWritable: noop,
  block: noop,
  blockDrain: noop,
  closed: noop,
};

/**
 * How a session tells its endpoint when to look at it: `wake` when it may have something to send now,
 * `due` when a deadline moved earlier without anything becoming sendable (an ACK timer).
 */
export interface ConnectionScheduler {
  wake(connection: ConnectionCore): void;
  due(connection: ConnectionCore, at: number): void;
}

const unscheduled: ConnectionScheduler = { wake: noop, due: noop };

/** Outgoing datagrams and delivered block copies come from slabs, not one allocation each. */
const datagramSlab = new Slab();
const blockSlab = new Slab();

/** Windows every endpoint starts with before MAX_DATA / MAX_STREAM_DATA raise them (no parameters are negotiated). */
export const INITIAL_STREAM_WINDOW = 256 * 1024;
export const INITIAL_CONNECTION_WINDOW = 1024 * 1024;
const MAX_PLAINTEXT = MAX_DATAGRAM - SHORT_HEADER_LENGTH - TAG_LENGTH;
/**
 * Scratch buffers shared by every session of the process (thousands of sessions must not each hold
 * their own): plaintexts are sealed as soon as they are written, and a received packet's plaintext is
 * used only while that packet is handled. The receive scratch is lent out, so a nested receive (which
 * no driver does: datagrams are never delivered from inside a handler) would get a fresh buffer.
 */
const sealScratch = new Uint8Array(MAX_PLAINTEXT);
const sealWriter = new Writer(sealScratch);
let receiveScratch: Uint8Array | undefined = new Uint8Array(2048);

const AMPLIFICATION_FACTOR = 3;
/**
 * On an unvalidated path, a budget below this (header, tag and 64 bytes of frames) sends nothing:
 * the session waits for the peer's next datagram, which raises the budget and wakes it.
 */
const MIN_BUDGETED_PACKET = SHORT_HEADER_LENGTH + TAG_LENGTH + 64;
/** Pacing waits this short are rounding noise: the packet goes now. */
const PACING_SLACK_MS = 0.05;
/**
 * Tail repair (fec.ts): a repair frame fills a whole packet, so while repair is armed every other
 * packet carries at most this many plaintext bytes (7 fewer, 0.6 %) and can be a source symbol.
 */
const REPAIR_SYMBOL = MAX_PLAINTEXT - REPAIR_FRAME_OVERHEAD;
/**
 * Plaintexts each side keeps for tail repair, only on a path that has shown loss: from 16 packets,
 * growing with what is in flight (twice the window, in packets) to at most 2048 (~2.4 MB).
 */
const REPAIR_RING_MIN = 16;
const REPAIR_RING_PACKETS = 2048;
/** The newest packets one tail's repair covers at most. */
const MAX_PROTECTED_PACKETS = 1024;
/** Repair groups a receiver holds while waiting for enough symbols. */
const MAX_PENDING_GROUPS = 32;

export type ConnectionState = 'initial' | 'handshake' | 'established' | 'closing' | 'draining' | 'closed';

export interface ConnectionCounters {
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsReceived: number;
  authFailures: number;
  replays: number;
  amplificationBlocked: number;
  keyUpdates: number;
  migrations: number;
  repairsSent: number;
  packetsRecovered: number;
}

export interface ClientHandshake {
  version: number;
  originalDcid: Uint8Array;
  token: Uint8Array;
  ephemeral: KeyPair;
  staticKey: KeyPair;
  serverStatic: Uint8Array;
  es: Uint8Array;
  initialKey: PacketKey;
  initPayload: Uint8Array;
}

export interface ServerHandshake {
  version: number;
  keys: SessionKeys;
  ephemeralPublic: Uint8Array;
  clientStatic: Uint8Array;
  initPayload: Uint8Array;
  reply: Uint8Array | undefined;
  /** Client INITIAL datagram bytes received (anti-amplification budget). */
  receivedBytes: number;
  /** The client presented a valid retry token: its address is already validated. */
  addressValidated: boolean;
  clientInitialPn: number;
}

export interface ConnectionSetup {
  role: 'client' | 'server';
  localCid: Uint8Array;
  remoteCid: Uint8Array;
  remoteAddress: Address;
  remoteStatic: Uint8Array;
  options: ResolvedOptions;
  random: Random;
  logger: Logger;
  now: number;
  client?: ClientHandshake;
  server?: ServerHandshake;
  /** Smart start: rate history and context to read from and record into while the session runs. */
  rateHistory?: RateHistory;
  networkContext?: string;
  /**
   * Smart start: the endpoint's other sessions now sending data. A remembered rate is the whole
   * uplink's (one session's delivery rate x the sessions sharing it when recorded), so a session
   * starts from its share of it, and sessions starting together do not each take the whole uplink.
   */
  otherSenders?: (self: ConnectionCore) => number;
}

/** Bytes in flight above which a session counts as sending (more than a few control packets). */
const SENDING_BYTES = 4 * MAX_DATAGRAM;
/** Smart start records the delivery rate every this many smoothed RTTs while a session runs ... */
const HISTORY_RTTS = 4;
/** ... and not more often than this (a LAN's RTT would make it every few ms). */
const HISTORY_MIN_INTERVAL_MS = 250;
/**
 * A rate is recorded only from a session that delivered this much since its last record: more than
 * slow start's first two rounds from 10 packets, so the sample measured more than the initial window.
 * A session that carried only control traffic (requests, haves) would teach a rate of a few kB/s.
 */
const HISTORY_MIN_BYTES = 32 * MAX_DATAGRAM;

export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export class ConnectionCore {
  readonly role: 'client' | 'server';
  state: ConnectionState;
  readonly localCid: Uint8Array;
  readonly localCidHex: string;
  remoteCid: Uint8Array;
  readonly remoteStatic: Uint8Array;
  path: Address;
  pathValidated: boolean;
  initPayload: Uint8Array | undefined;
  initReply: Uint8Array | undefined;
  closeInfo: { code: number; reason: string; remote: boolean } | undefined;
  events: ConnectionEvents = silentEvents;
  readonly counters: ConnectionCounters = {
    bytesSent: 0,
    bytesReceived: 0,
    packetsSent: 0,
    packetsReceived: 0,
    authFailures: 0,
    replays: 0,
    amplificationBlocked: 0,
    keyUpdates: 0,
    migrations: 0,
    repairsSent: 0,
    packetsRecovered: 0,
  };

  private readonly options: ResolvedOptions;
  private readonly random: Random;
  private readonly rtt: RttStats;
  readonly cc: CongestionController;
  private readonly recovery: SentPacketHandler;
  private readonly pacer: Pacer;
  private readonly client: ClientHandshake | undefined;
  private readonly server: ServerHandshake | undefined;
  private readonly rateHistory: RateHistory | undefined;
  private readonly networkContext: string | undefined;
  private readonly otherSenders: ((self: ConnectionCore) => number) | undefined;
  /** Smart start: when the running session next records its rate; the handshake's time to resume. */
  private nextHistoryAt = Number.POSITIVE_INFINITY;
  private ackedAtHistory = 0;
  private lastAnswerSentAt = 0;

  // Keys.
  private sendKey: PacketKey | undefined;
  private sendPhase: 0 | 1 = 0;
  private sentWithKey = 0;
  private recvKey: PacketKey | undefined;
  private recvPrev: PacketKey | undefined;
  private recvNext: PacketKey | undefined;
  private recvPhase: 0 | 1 = 0;
  private recvPhaseStartPn = 0;

  // Packet numbers and acknowledgements.
  private nextPn = 0;
  private readonly received = new RangeSet(64);
  private largestReceivedTime = 0;
  private ackElicitingUnacked = 0;
  private ackImmediate = false;
  private ackDeadline: number | undefined;
  private lastAckSentAt = Number.NEGATIVE_INFINITY;
  private readonly frameReader = new Reader(new Uint8Array(0));

  // Handshake timers.
  private handshakeDue = true;
  private handshakeSentCount = 0;
  private handshakeResendAt: number | undefined;
  private lastInitialSentAt = 0;

  // Path.
  private pathRecvBytes = 0;
  private pathSentBytes = 0;
  private challenge: Uint8Array | undefined;
  private challengeDueAt: number | undefined;
  private challengeTries = 0;
  private pathResponses: Uint8Array[] = [];

  // Streams.
  private readonly sendStreams = new Map<number, SendStream>();
  private readonly recvStreams = new Map<number, RecvStream>();
  private nextLocalStreamId: number;
  private highestPeerStreamId = -1;
  private peerStreamsOpen = 0;
  private peerMaxData = INITIAL_CONNECTION_WINDOW;
  private sentNewBytes = 0;
  private recvMaxData = INITIAL_CONNECTION_WINDOW;
  private recvHighestTotal = 0;
  private recvConsumedTotal = 0;
  private maxDataDirty = false;
  private readonly maxStreamDataDirty = new Set<number>();
  private readonly resetsToSend: Array<{ id: number; code: number }> = [];

  // Blocks.
  private blockSeq = 0;
  private readonly blockQueue: Array<{ object: number; offset: number; data: Uint8Array; pos: number }> = [];
  private readonly blockRetransmit: OutgoingBlock[] = [];
  private blockOutstanding = 0;
  private blockDrainWanted = false;
  private readonly blocksReceived = new RangeSet(4096);

  // Tail repair (fec.ts). Sender: plaintexts once armed, the first packet not yet covered, repair
  // symbols still to send. Receiver: plaintexts once a gap was seen, groups waiting for symbols.
  private sendRing: PlaintextRing | undefined;
  private repairFloorPn = 0;
  private readonly repairQueue: Array<{ firstPn: number; span: number; index: number }> = [];
  private recvRing: PlaintextRing | undefined;
  private readonly repairGroups = new Map<number, { span: number; symbols: Map<number, Uint8Array> }>();
  private readonly repairsToTry = new Set<number>();

  // Tail redundancy: packets numbered from here on are not copied again; reset when new data flows.
  private tailFloorPn: number | undefined;
  private duplicating = false;

  // Timers and liveness.
  private lastReceivedAt: number;
  private lastSentAt: number;
  private probesPending = 0;
  private pacingWakeAt: number | undefined;
  private closeDeadline: number | undefined;
  private closeFrameDue = false;
  private closeFramesSent = 0;
  /**
   * A poll found nothing to send and nothing that could change that except time: until this instant
   * (the next deadline) or the next event (every public mutator resets it), polls return at once.
   * The endpoint polls every session whenever any of them has work, so this keeps a poll of an idle
   * session O(1) instead of a full packet assembly.
   */
  private quietUntil = Number.NEGATIVE_INFINITY;

  /** The endpoint's bookkeeping: its deadline heap and its queue of sessions with work (endpoint-core.ts). */
  deadline = 0;
  heapIndex = -1;
  ready = false;
  /** Server side: key of the client's original destination CID in the endpoint's INITIAL map. */
  initialKey: string | undefined;
  scheduler: ConnectionScheduler = unscheduled;

  /** Something may have become sendable: poll this session on the next pump. */
  private touch(): void {
    this.quietUntil = Number.NEGATIVE_INFINITY;
    if (!this.ready) this.scheduler.wake(this);
  }

  constructor(setup: ConnectionSetup) {
    this.role = setup.role;
    this.localCid = setup.localCid;
    this.localCidHex = hexOf(setup.localCid);
    this.remoteCid = setup.remoteCid;
    this.remoteStatic = setup.remoteStatic;
    this.path = setup.remoteAddress;
    this.options = setup.options;
    this.random = setup.random;
    this.client = setup.client;
    this.server = setup.server;
    this.rateHistory = setup.rateHistory;
    this.networkContext = setup.networkContext;
    this.otherSenders = setup.otherSenders;
    this.lastReceivedAt = setup.now;
    this.lastSentAt = setup.now;
    this.nextLocalStreamId = this.role === 'client' ? 0 : 1;
    this.rtt = new RttStats(this.options.maxAckDelayMs);
    this.pacer = new Pacer(512 * 1024, 4);
    const ctx = {
      smoothedRtt: () => this.rtt.smoothed,
      minRtt: () => this.rtt.minRtt(),
      latestRtt: () => (this.rtt.hasSample ? this.rtt.latest : this.rtt.smoothed),
    };
    let initialRate: number | undefined;
    if (this.options.congestion === 'bbr' && this.rateHistory && this.networkContext !== undefined) {
      const remembered = this.rateHistory.get(this.networkContext);
      // Its share of the uplink, as the adaptive controller's resume (smartStart) takes.
      if (remembered !== undefined)
        initialRate = Math.min(remembered, this.options.maxInitialRateBps / 8) / this.senders();
    }
    const initialWindow = this.options.initialWindowPackets * MAX_SEGMENT;
    this.cc =
      this.options.congestion === 'bbr'
        ? createBbr(ctx, initialRate === undefined ? { initialWindow } : { initialWindow, initialRate })
        : createNewReno(ctx, { initialWindow, tolerateRandomLoss: this.options.congestion === 'adaptive' });
    this.recovery = new SentPacketHandler(this.rtt, this.cc, {
      onAcked: (frames) => this.onFramesAcked(frames),
      onLost: (frames) => this.onFramesLost(frames),
    });

    if (this.role === 'client') {
      this.state = 'initial';
      this.pathValidated = true;
      this.initPayload = this.client?.initPayload;
    } else {
      const server = this.server!;
      this.state = 'handshake';
      this.sendKey = server.keys.serverToClient;
      this.recvKey = server.keys.clientToServer;
      this.initPayload = server.initPayload;
      this.initReply = server.reply;
      this.pathValidated = server.addressValidated;
      this.pathRecvBytes = server.receivedBytes;
      this.received.add(server.clientInitialPn);
    }
  }

  // ---------------------------------------------------------------- application API

  openStream(): number {
    this.touch();
    const id = this.nextLocalStreamId;
    this.nextLocalStreamId += 2;
    this.sendStreams.set(id, new SendStream(id, INITIAL_STREAM_WINDOW));
    this.recvStreams.set(id, new RecvStream(id, this.options.streamWindow));
    this.recvStreams.get(id)!.maxData = INITIAL_STREAM_WINDOW;
    if (this.options.streamWindow > INITIAL_STREAM_WINDOW) {
      this.recvStreams.get(id)!.maxData = this.options.streamWindow;
      this.maxStreamDataDirty.add(id);
    }
    return id;
  }

  streamWrite(id: number, data: Uint8Array): void {
    this.touch();
    this.sendStreams.get(id)?.write(data);
  }

  streamFinish(id: number): void {
    this.touch();
    this.sendStreams.get(id)?.finish();
  }

  /** Bytes written on the stream and not yet acknowledged. */
  streamUnacked(id: number): number {
    return this.sendStreams.get(id)?.unacked ?? 0;
  }

  streamConsumed(id: number, bytes: number): void {
    this.touch();
    const stream = this.recvStreams.get(id);
    if (stream) {
      const raised = stream.consume(bytes);
      if (raised !== undefined) this.maxStreamDataDirty.add(id);
    }
    this.recvConsumedTotal += bytes;
    if (
      this.recvConsumedTotal + this.options.connectionWindow - this.recvMaxData >=
      this.options.connectionWindow / 2
    ) {
      this.recvMaxData = this.recvConsumedTotal + this.options.connectionWindow;
      this.maxDataDirty = true;
    }
  }

  streamReset(id: number, code: number): void {
    this.touch();
    const send = this.sendStreams.get(id);
    if (send && !send.isDone) {
      send.resetCode = code;
      this.resetsToSend.push({ id, code });
    }
    this.sendStreams.delete(id);
    this.recvStreams.delete(id);
  }

  sendBlock(object: number, offset: number, data: Uint8Array): boolean {
    this.touch();
    if (this.state === 'closing' || this.state === 'draining' || this.state === 'closed') return false;
    if (this.blockOutstanding > 0 && this.blockOutstanding + data.length > this.options.blockWindow) {
      this.blockDrainWanted = true;
      return false;
    }
    this.blockQueue.push({ object, offset, data, pos: 0 });
    this.blockOutstanding += data.length;
    return true;
  }

  close(now: number, code: number, reason: string): void {
    this.touch();
    if (this.state === 'closing' || this.state === 'draining' || this.state === 'closed') return;
    this.recordHistory();
    this.closeInfo = { code, reason, remote: false };
    if (this.state === 'initial' || this.sendKey === undefined) {
      this.state = 'closed';
    } else {
      this.state = 'closing';
      this.closeFrameDue = true;
      this.closeDeadline = now + 3 * this.rtt.pto();
    }
    this.events.closed(code, reason, false);
  }

  stats(): {
    rttMs: number;
    minRttMs: number;
    deliveryRateBps: number;
    bytesSent: number;
    bytesReceived: number;
    packetsLost: number;
  } {
    return {
      rttMs: this.rtt.smoothed,
      minRttMs: this.rtt.minRtt(),
      deliveryRateBps: this.cc.bandwidthEstimate() * 8,
      bytesSent: this.counters.bytesSent,
      bytesReceived: this.counters.bytesReceived,
      packetsLost: this.recovery.packetsLost,
    };
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Has data in flight: counts as one of the sessions sharing the uplink (smart start). */
  get isSending(): boolean {
    return this.recovery.bytesInFlight > SENDING_BYTES;
  }

  /** Sessions sending now, this one included. */
  private senders(): number {
    return 1 + (this.otherSenders?.(this) ?? 0);
  }

  /**
   * Smart start, once the handshake's RTT sample is in: a window-based controller resumes from this
   * session's share of the rate remembered for the network context (BBR took its seed at
   * construction). Recording while the session runs starts here too.
   */
  private smartStart(now: number, serverHandshakeRtt?: number): void {
    if (!this.rateHistory || this.networkContext === undefined) return;
    this.nextHistoryAt = now + this.historyInterval();
    if (!this.cc.resume) return;
    // A resumed window is paced over the smoothed RTT, so the server needs the handshake's sample
    // as the client has it, not the 333 ms default. Only here: BBR edges serving many sessions at
    // once start from the default until their first ACK (test/transport/fairness.test.ts).
    if (serverHandshakeRtt !== undefined && !this.rtt.hasSample) this.rtt.update(serverHandshakeRtt, 0);
    if (!this.rtt.hasSample) return;
    const remembered = this.rateHistory.get(this.networkContext);
    if (remembered === undefined) return;
    const uplink = Math.min(remembered, this.options.maxInitialRateBps / 8);
    this.cc.resume(uplink / this.senders(), this.rtt.latest);
  }

  private historyInterval(): number {
    return Math.max(HISTORY_MIN_INTERVAL_MS, HISTORY_RTTS * this.rtt.smoothed);
  }

  /**
   * Remembers the rate the uplink delivers for the network context: this session's delivery rate
   * times the sessions sending now (each delivers about its share). Called every few RTTs while the
   * session runs, so sessions that start meanwhile learn from it, and once more at its close.
   */
  private recordHistory(): void {
    if (!this.rateHistory || this.networkContext === undefined) return;
    if (this.recovery.bytesAcked - this.ackedAtHistory < HISTORY_MIN_BYTES) return;
    this.ackedAtHistory = this.recovery.bytesAcked;
    const estimate = this.cc.bandwidthEstimate();
    if (estimate > 0) this.rateHistory.record(this.networkContext, estimate * this.senders());
  }

  // ---------------------------------------------------------------- receiving

  /** Client: the server's ANSWER. Returns false if it did not authenticate. */
  handleAnswer(now: number, from: Address, packet: ParsedPacket<AnswerHeader>, size: number): boolean {
    this.touch();
    const client = this.client;
    if (!client) return false;
    if (this.state !== 'initial') {
      // A repeated answer: the server has not yet seen our 1-RTT packets. Acknowledge promptly.
      if (this.recvKey && !this.received.has(packet.header.pn)) {
        const plain = open(this.recvKey, packet.header.pn, packet.headerBytes, packet.payload);
        if (plain) {
          this.received.add(packet.header.pn);
          this.ackImmediate = true;
          this.ackElicitingUnacked++;
        }
      }
      return true;
    }
    const keys = clientSessionKeys(client.ephemeral, client.staticKey, client.es, packet.header.ephemeral, {
      version: client.version,
      dcid: client.originalDcid,
      clientCid: this.localCid,
      serverCid: packet.header.scid,
      serverStatic: client.serverStatic,
    });
    if (!keys) return false;
    const plain = open(keys.serverToClient, packet.header.pn, packet.headerBytes, packet.payload);
    if (!plain) {
      this.counters.authFailures++;
      return false;
    }
    let frames: Frame[];
    try {
      frames = decodeFrames(plain);
    } catch {
      return false;
    }
    this.sendKey = keys.clientToServer;
    this.recvKey = keys.serverToClient;
    this.remoteCid = new Uint8Array(packet.header.scid);
    this.path = from;
    this.state = 'established';
    this.rtt.update(now - this.lastInitialSentAt, 0);
    this.smartStart(now);
    this.received.add(packet.header.pn);
    this.largestReceivedTime = now;
    this.ackImmediate = true;
    this.ackElicitingUnacked++;
    this.lastReceivedAt = now;
    this.counters.bytesReceived += size;
    this.counters.packetsReceived++;
    for (const frame of frames) if (frame.type === 'init-reply') this.initReply = frame.payload?.slice();
    if (this.options.connectionWindow > INITIAL_CONNECTION_WINDOW) {
      this.recvMaxData = this.options.connectionWindow;
      this.maxDataDirty = true;
    }
    this.events.established();
    return true;
  }

  /** Server: a repeated INITIAL (our answer was probably lost). */
  handleRepeatedInitial(size: number): void {
    this.touch();
    if (this.state !== 'handshake') return;
    this.pathRecvBytes += size;
    this.handshakeDue = true;
  }

  /** Client: RETRY from the server; resend the INITIAL with its token. */
  handleRetry(token: Uint8Array): void {
    this.touch();
    if (this.state !== 'initial' || !this.client || this.client.token.length > 0) return;
    this.client.token = new Uint8Array(token);
    this.handshakeDue = true;
  }

  handleVersionMismatch(now: number, versions: number[]): void {
    this.touch();
    if (this.state !== 'initial') return;
    this.close(
      now,
      CloseCode.VERSION_MISMATCH,
      `server speaks versions ${versions.map((v) => v.toString(16)).join(',')}`,
    );
  }

  /**
   * A short-header datagram for this connection (the endpoint has matched its CID and read `pn`).
   * Returns false when it was dropped. This is the receive hot path: no header or frame objects,
   * block frames are read in place, and a packet that only delivers data leaves the session quiet
   * (no poll) unless an ACK is due now.
   */
  handleShort(now: number, from: Address, datagram: Uint8Array, pn: number, keyPhase: number): boolean {
    const scratch = receiveScratch ?? new Uint8Array(2048);
    receiveScratch = undefined;
    try {
      return this.receiveShort(now, from, datagram, pn, keyPhase, scratch);
    } finally {
      receiveScratch = scratch;
    }
  }

  private receiveShort(
    now: number,
    from: Address,
    datagram: Uint8Array,
    pn: number,
    keyPhase: number,
    scratch: Uint8Array,
  ): boolean {
    if (this.state === 'closed' || this.state === 'initial' || !this.recvKey) return false;
    if (this.received.has(pn)) {
      this.counters.replays++;
      return false;
    }
    let key: PacketKey;
    let rotating = false;
    if (keyPhase === this.recvPhase) {
      key = this.recvKey;
    } else if (pn < this.recvPhaseStartPn && this.recvPrev) {
      key = this.recvPrev;
    } else {
      this.recvNext ??= nextPacketKey(this.recvKey);
      key = this.recvNext;
      rotating = true;
    }
    // Every consumer of frame data copies what it keeps, so one scratch buffer serves all packets.
    const plain = openPacket(key, pn, datagram, SHORT_HEADER_LENGTH, scratch);
    if (!plain) {
      this.counters.authFailures++;
      return false;
    }
    if (rotating) {
      this.recvPrev = this.recvKey;
      this.recvKey = key;
      this.recvNext = undefined;
      this.recvPhase = keyPhase as 0 | 1;
      this.recvPhaseStartPn = pn;
    }
    const size = datagram.length;
    this.counters.bytesReceived += size;
    this.counters.packetsReceived++;
    this.lastReceivedAt = now;
    if (this.state === 'draining') return true;
    if (this.state === 'closing') {
      if (this.closeFramesSent < 4) {
        this.closeFrameDue = true;
        this.touch();
      }
      return true;
    }
    const largestBefore = this.received.largest;
    this.received.add(pn);
    if (pn > largestBefore) this.largestReceivedTime = now;
    if (this.recvRing === undefined && pn > largestBefore + 1 && this.options.tailRepair)
      this.recvRing = new PlaintextRing(REPAIR_RING_MIN, MAX_PLAINTEXT, REPAIR_RING_PACKETS);
    if (this.recvRing !== undefined) {
      this.sizeRecvRing(now);
      this.recvRing.store(pn, plain);
    }

    // Anything but data, padding and pings may make something sendable: then the session is polled.
    let wake = false;
    if (!sameAddress(from, this.path)) {
      if (pn > largestBefore) {
        this.migrate(now, from, size);
        wake = true;
      }
    } else if (!this.pathValidated) {
      this.pathRecvBytes += size;
      wake = true;
    }
    if (this.state === 'handshake') {
      // Only the client that received our answer can produce this packet: handshake confirmed and
      // its address validated.
      this.state = 'established';
      this.pathValidated = true;
      this.handshakeResendAt = undefined;
      this.handshakeDue = false;
      // The client sends this packet as soon as our answer arrives: answer -> it is a round trip, as
      // the client's INITIAL -> answer is. Only when the answer went once (Karn: a resent one's
      // round trip is ambiguous).
      this.smartStart(now, this.handshakeSentCount === 1 ? now - this.lastAnswerSentAt : undefined);
      if (this.options.connectionWindow > INITIAL_CONNECTION_WINDOW) {
        this.recvMaxData = this.options.connectionWindow;
        this.maxDataDirty = true;
      }
      wake = true;
      this.events.established();
    }

    let ackEliciting = false;
    const r = this.frameReader.reset(plain);
    try {
      while (r.offset < plain.length && this.state === 'established') {
        const type = plain[r.offset]!;
        if (type === FrameType.BLOCK) {
          r.offset++;
          const seq = r.varint();
          const object = r.varint();
          const offset = r.varint();
          const data = r.raw(r.varint());
          ackEliciting = true;
          if (this.blocksReceived.add(seq)) this.events.block(object, offset, blockSlab.copy(data));
        } else if (type === FrameType.PADDING) {
          r.offset++;
          while (r.offset < plain.length && plain[r.offset] === 0) r.offset++;
        } else {
          const frame = decodeFrame(r);
          if (isAckEliciting(frame)) ackEliciting = true;
          if (frame.type !== 'ping') wake = true;
          this.handleFrame(now, from, frame);
        }
      }
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.close(now, CloseCode.PROTOCOL_VIOLATION, error.message);
      return true;
    }
    if (this.repairsToTry.size > 0) {
      wake = true;
      this.tryRepair(now);
    }
    if (ackEliciting) this.onAckEliciting(now, pn, largestBefore);
    if (wake || this.ackImmediate || now >= this.quietUntil) {
      this.touch();
    } else if (this.ackDeadline !== undefined && this.ackDeadline < this.quietUntil) {
      this.quietUntil = this.ackDeadline;
      this.scheduler.due(this, this.ackDeadline);
    }
    return true;
  }

  /** ACK policy for an ack-eliciting packet that just arrived (RFC 9000 §13.2.1, with ACK decimation). */
  private onAckEliciting(now: number, pn: number, largestBefore: number): void {
    this.ackElicitingUnacked++;
    if (pn !== largestBefore + 1) {
      this.ackImmediate = true;
    } else if (this.ackElicitingUnacked >= this.options.ackEveryPackets) {
      // At high packet rates (an ACK already left this millisecond) batch up to 4x as many packets
      // per ACK, but never hold one back for more than a millisecond: it halves the receiver's work.
      // Not more: the receiver cannot know the sender's window, and a loss-based controller on a
      // sub-millisecond path may have only a few dozen packets in flight.
      if (now - this.lastAckSentAt >= 1 || this.ackElicitingUnacked >= 4 * this.options.ackEveryPackets) {
        this.ackImmediate = true;
      } else {
        this.ackDeadline = Math.min(this.ackDeadline ?? Number.POSITIVE_INFINITY, this.lastAckSentAt + 1);
      }
    } else if (this.ackDeadline === undefined) {
      this.ackDeadline = now + this.options.maxAckDelayMs;
    }
  }

  private migrate(now: number, from: Address, size: number): void {
    this.counters.migrations++;
    this.path = from;
    this.pathValidated = false;
    this.pathRecvBytes = size;
    this.pathSentBytes = 0;
    this.challenge = this.random.bytes(8);
    this.challengeDueAt = now;
    this.challengeTries = 0;
  }

  private handleFrame(now: number, from: Address, frame: Frame): void {
    switch (frame.type) {
      case 'ack':
        this.recovery.onAck(now, frame.ranges, frame.delayUs / 1000);
        if (now >= this.nextHistoryAt && this.cc.probing?.() !== true) {
          this.nextHistoryAt = now + this.historyInterval();
          this.recordHistory();
        }
        return;
      case 'stream':
        this.onStreamFrame(now, frame.id, frame.offset, frame.data, frame.fin);
        return;
      case 'block':
        if (this.blocksReceived.add(frame.seq))
          this.events.block(frame.object, frame.offset, blockSlab.copy(frame.data));
        return;
      case 'max-data':
        if (frame.max > this.peerMaxData) this.peerMaxData = frame.max;
        return;
      case 'max-stream-data': {
        // The limit may arrive before (or without) the stream's first data frame.
        if (!this.isLocalStream(frame.id)) this.peerStream(now, frame.id);
        const stream = this.sendStreams.get(frame.id);
        if (stream && frame.max > stream.maxData) stream.maxData = frame.max;
        return;
      }
      case 'reset-stream': {
        const recv = this.recvStreams.get(frame.id);
        if (recv) {
          this.recvStreams.delete(frame.id);
          this.sendStreams.delete(frame.id);
          if (!this.isLocalStream(frame.id)) this.peerStreamsOpen--;
          this.events.streamReset(frame.id, frame.code);
        }
        return;
      }
      case 'path-challenge':
        // Answer on the path the challenge came from (normally the current one).
        if (sameAddress(from, this.path)) this.pathResponses.push(new Uint8Array(frame.data));
        return;
      case 'path-response':
        if (this.challenge && Buffer.compare(this.challenge, frame.data) === 0) {
          this.challenge = undefined;
          this.challengeDueAt = undefined;
          this.pathValidated = true;
        }
        return;
      case 'close':
        this.recordHistory();
        this.state = 'draining';
        this.closeDeadline = now + 3 * this.rtt.pto();
        this.closeInfo = { code: frame.code, reason: frame.reason, remote: true };
        this.events.closed(frame.code, frame.reason, true);
        return;
      case 'repair':
        this.onRepairFrame(frame.firstPn, frame.span, frame.index, frame.symbol);
        return;
      case 'init':
      case 'init-reply':
        this.close(now, CloseCode.PROTOCOL_VIOLATION, 'handshake frame after handshake');
        return;
      case 'ping':
      case 'padding':
        return;
    }
  }

  /** Receiver: keeps a repair symbol (copied: it is a view into the scratch plaintext). */
  private onRepairFrame(firstPn: number, span: number, index: number, symbol: Uint8Array): void {
    if (!this.options.tailRepair || span > MAX_GROUP_SPAN || index >= MAX_REPAIRS_PER_GROUP) return;
    // Symbols for packets received before the ring existed (or beyond its reach) cannot be used;
    // the ring grows to reach back this far for the next group.
    this.recvRing ??= new PlaintextRing(REPAIR_RING_MIN, MAX_PLAINTEXT, REPAIR_RING_PACKETS);
    this.recvRing.reserve(2 * (this.received.largest - firstPn + 1));
    let group = this.repairGroups.get(firstPn);
    if (group === undefined) {
      if (this.repairGroups.size >= MAX_PENDING_GROUPS) {
        const oldest = this.repairGroups.keys().next().value;
        if (oldest !== undefined) this.repairGroups.delete(oldest);
      }
      group = { span, symbols: new Map() };
      this.repairGroups.set(firstPn, group);
    }
    if (group.span !== span || group.symbols.size >= span) return;
    group.symbols.set(index, symbol.slice());
    this.repairsToTry.add(firstPn);
  }

  // Receiver ring sizing: packets received per smoothed RTT, measured once per RTT.
  private recvRateWindowStart = 0;
  private recvRateCount = 0;

  /** Receiver: keeps the ring at twice the packets that arrive per RTT (what the sender has in flight). */
  private sizeRecvRing(now: number): void {
    this.recvRateCount++;
    if (now - this.recvRateWindowStart < this.rtt.smoothed) return;
    this.recvRing?.reserve(2 * this.recvRateCount);
    this.recvRateWindowStart = now;
    this.recvRateCount = 0;
  }

  /** Receiver: decodes every group that now has as many symbols as it misses packets. */
  private tryRepair(now: number): void {
    const ring = this.recvRing;
    for (const firstPn of this.repairsToTry) {
      this.repairsToTry.delete(firstPn);
      const group = this.repairGroups.get(firstPn);
      if (group === undefined || ring === undefined) continue;
      const sources: Array<Uint8Array | undefined> = [];
      let missing = 0;
      let usable = true;
      const symbolLength = group.symbols.values().next().value?.length ?? 0;
      for (let i = 0; i < group.span && usable; i++) {
        const pn = firstPn + i;
        if (!this.received.has(pn)) {
          sources.push(undefined);
          missing++;
          continue;
        }
        const plain = ring.get(pn);
        if (plain === undefined || plain.length > symbolLength) usable = false;
        else sources.push(plain);
      }
      if (!usable || missing === 0) {
        this.repairGroups.delete(firstPn);
        continue;
      }
      if (missing > group.symbols.size) continue;
      this.repairGroups.delete(firstPn);
      const recovered = decodeGroup(sources, group.symbols);
      if (recovered === undefined) continue;
      for (const [i, plain] of recovered) {
        this.acceptRecovered(now, firstPn + i, plain);
        if (this.state !== 'established') return;
      }
    }
  }

  /** Receiver: a packet rebuilt from repair symbols is processed as if it had arrived now. */
  private acceptRecovered(now: number, pn: number, plain: Uint8Array): void {
    if (this.received.has(pn)) return;
    let frames: Frame[];
    try {
      frames = decodeFrames(plain);
    } catch {
      return;
    }
    this.received.add(pn);
    this.recvRing?.store(pn, plain);
    this.counters.packetsRecovered++;
    let ackEliciting = false;
    for (const frame of frames) {
      switch (frame.type) {
        case 'ack':
        case 'stream':
        case 'block':
        case 'max-data':
        case 'max-stream-data':
        case 'reset-stream':
        case 'ping':
          if (isAckEliciting(frame)) ackEliciting = true;
          this.handleFrame(now, this.path, frame);
          break;
        default:
          // Path validation, close and nested repair frames only count when they really arrive.
          break;
      }
      if (this.state !== 'established') return;
    }
    if (ackEliciting) {
      // Acknowledge at once so the sender does not retransmit what was just rebuilt.
      this.ackElicitingUnacked++;
      this.ackImmediate = true;
    }
  }

  private isLocalStream(id: number): boolean {
    return (id & 1) === (this.role === 'client' ? 0 : 1);
  }

  /** Creates the state for a stream the peer opened; undefined if it is closed or over the limit. */
  private peerStream(now: number, id: number): RecvStream | undefined {
    const existing = this.recvStreams.get(id);
    if (existing) return existing;
    if (this.isLocalStream(id) || id <= this.highestPeerStreamId) return undefined; // closed already
    if (this.peerStreamsOpen >= this.options.maxStreams) {
      this.close(now, CloseCode.STREAM_LIMIT_ERROR, 'too many streams');
      return undefined;
    }
    this.highestPeerStreamId = id;
    this.peerStreamsOpen++;
    const recv = new RecvStream(id, this.options.streamWindow);
    recv.maxData = INITIAL_STREAM_WINDOW;
    if (this.options.streamWindow > INITIAL_STREAM_WINDOW) {
      recv.maxData = this.options.streamWindow;
      this.maxStreamDataDirty.add(id);
    }
    this.recvStreams.set(id, recv);
    this.sendStreams.set(id, new SendStream(id, INITIAL_STREAM_WINDOW));
    this.events.streamOpened(id);
    return recv;
  }

  private onStreamFrame(now: number, id: number, offset: number, data: Uint8Array, fin: boolean): void {
    const recv = this.peerStream(now, id);
    if (!recv) return;
    const end = offset + data.length;
    if (end > recv.highestReceived) {
      this.recvHighestTotal += end - recv.highestReceived;
      recv.highestReceived = end;
      if (this.recvHighestTotal > this.recvMaxData) {
        this.close(now, CloseCode.FLOW_CONTROL_ERROR, 'connection window exceeded');
        return;
      }
    }
    let pieces: Uint8Array[];
    try {
      pieces = recv.onFrame(offset, data, fin);
    } catch (error) {
      if (error instanceof FlowControlError) {
        this.close(now, CloseCode.FLOW_CONTROL_ERROR, error.message);
        return;
      }
      throw error;
    }
    for (const piece of pieces) this.events.streamData(id, piece);
    if (recv.finReady) {
      recv.finDelivered = true;
      this.events.streamFin(id);
      this.maybeRetireStream(id);
    }
  }

  private maybeRetireStream(id: number): void {
    const send = this.sendStreams.get(id);
    const recv = this.recvStreams.get(id);
    if ((send === undefined || send.isDone) && (recv === undefined || recv.finDelivered)) {
      this.sendStreams.delete(id);
      this.recvStreams.delete(id);
      this.maxStreamDataDirty.delete(id);
      if (!this.isLocalStream(id)) this.peerStreamsOpen--;
    }
  }

  private onFramesAcked(frames: SentFrame[]): void {
    for (const frame of frames) {
      switch (frame.type) {
        case 'stream': {
          const stream = this.sendStreams.get(frame.id);
          if (!stream) break;
          const before = stream.unacked;
          stream.onAcked(frame.offset, frame.length, frame.fin);
          if (stream.unacked < before) this.events.streamWritable(frame.id);
          if (stream.isDone) this.maybeRetireStream(frame.id);
          break;
        }
        case 'block':
          if (!frame.acked) {
            frame.acked = true;
            this.blockOutstanding -= frame.data.length;
            if (this.blockDrainWanted && this.blockOutstanding <= this.options.blockWindow / 2) {
              this.blockDrainWanted = false;
              this.events.blockDrain();
            }
          }
          break;
        default:
          break;
      }
    }
  }

  private onFramesLost(frames: SentFrame[]): void {
    for (const frame of frames) {
      switch (frame.type) {
        case 'stream':
          this.sendStreams.get(frame.id)?.onLost(frame.offset, frame.length, frame.fin);
          break;
        case 'block':
          if (!frame.acked && !frame.queued) {
            frame.queued = true;
            this.blockRetransmit.push(frame);
          }
          break;
        case 'max-data':
          this.maxDataDirty = true;
          break;
        case 'max-stream-data':
          if (this.recvStreams.has(frame.id)) this.maxStreamDataDirty.add(frame.id);
          break;
        case 'reset-stream':
          this.resetsToSend.push({ id: frame.id, code: frame.code });
          break;
        default:
          break;
      }
    }
  }

  // ---------------------------------------------------------------- timers

  nextTimeout(): number | undefined {
    if (this.state === 'closed') return undefined;
    // Written without closures: this runs for every session on every pump.
    let t = this.lastReceivedAt + this.options.idleTimeoutMs;
    if (this.state === 'closing' || this.state === 'draining') {
      if (this.closeDeadline !== undefined && this.closeDeadline < t) t = this.closeDeadline;
      return t;
    }
    if ((this.state === 'initial' || this.state === 'handshake') && this.handshakeResendAt !== undefined) {
      if (this.handshakeResendAt < t) t = this.handshakeResendAt;
    }
    const recovery = this.recovery.timeout();
    if (recovery !== undefined && recovery < t) t = recovery;
    // Out of anti-amplification budget, nothing can be sent before the peer's next datagram (which
    // wakes the session): the deadlines of things to send would only spin it.
    if (this.amplificationBudget() < MIN_BUDGETED_PACKET) return t;
    if (this.ackElicitingUnacked > 0 && this.ackDeadline !== undefined && this.ackDeadline < t)
      t = this.ackDeadline;
    if (this.pacingWakeAt !== undefined && this.pacingWakeAt < t) t = this.pacingWakeAt;
    if (this.challengeDueAt !== undefined && this.challengeDueAt < t) t = this.challengeDueAt;
    if (this.state === 'established' && this.options.keepAliveMs > 0) {
      const keepAlive = this.lastSentAt + this.options.keepAliveMs;
      if (keepAlive < t) t = keepAlive;
    }
    return t;
  }

  handleTimeout(now: number): void {
    this.touch();
    if (this.state === 'closed') return;
    if ((this.state === 'closing' || this.state === 'draining') && this.closeDeadline !== undefined) {
      if (now >= this.closeDeadline) this.state = 'closed';
      return;
    }
    if (now >= this.lastReceivedAt + this.options.idleTimeoutMs) {
      this.recordHistory();
      this.state = 'closed';
      this.closeInfo = { code: CloseCode.IDLE_TIMEOUT, reason: 'idle timeout', remote: false };
      this.events.closed(CloseCode.IDLE_TIMEOUT, 'idle timeout', false);
      return;
    }
    if (this.handshakeResendAt !== undefined && now >= this.handshakeResendAt) {
      this.handshakeResendAt = undefined;
      this.handshakeDue = true;
    }
    if (this.recovery.onTimeout(now) === 'pto') {
      this.probesPending = 2;
      this.requeueOldest();
    }
    if (this.pacingWakeAt !== undefined && now >= this.pacingWakeAt) this.pacingWakeAt = undefined;
  }

  /**
   * Tail redundancy: with nothing new to send and window to spare, send a second copy of an
   * in-flight packet's data (oldest first, each packet once). On a lossy last mile this turns the
   * final round trip's losses from a full RTT + loss detection into nothing, and it only ever uses
   * capacity that would otherwise sit idle. Receivers drop the duplicates (stream offsets, block seq).
   */
  private duplicateTail(now: number): boolean {
    // The application is waiting for window, not finished: that is not a tail.
    if (this.blockDrainWanted) return false;
    // Older packets are resolved by ACKs or loss detection within the round trip anyway; copying
    // them would only queue duplicates in front of real retransmissions at the bottleneck.
    const horizon = now - this.rtt.smoothed / 2;
    // Only packets sent before the tail began are copied (never copies of copies).
    this.tailFloorPn ??= this.nextPn;
    // Newest first: the last packets sent are the ones whose loss would otherwise cost a round trip
    // of loss detection after everything else has arrived. Everything from tailCursorPn up to the
    // floor was already copied by an earlier call of this tail, so the walk resumes below it.
    if (this.tailCursorFloor !== this.tailFloorPn) {
      this.tailCursorFloor = this.tailFloorPn;
      this.tailCursorPn = this.tailFloorPn;
    }
    this.tailHorizon = horizon;
    this.tailFound = false;
    this.recovery.walkNewestFirst(this.tailCursorPn, this.visitTailPacket);
    return this.tailFound;
  }

  // duplicateTail's walk state (fields and one bound visitor: no closure per call on the hot path).
  private tailCursorFloor: number | undefined;
  private tailCursorPn = 0;
  private tailHorizon = 0;
  private tailFound = false;
  private readonly visitTailPacket = (packet: SentPacket): boolean => {
    if (packet.timeSent < this.tailHorizon) return false;
    this.tailCursorPn = packet.pn;
    if (packet.duplicated) return true;
    packet.duplicated = true;
    if (packet.frames.length === 0) return true;
    this.onFramesLost(packet.frames);
    if (this.hasStreamData() || this.hasBlockData()) {
      this.tailFound = true;
      return false;
    }
    return true;
  };

  /** PTO: resend what the oldest in-flight packet carried (without declaring it lost). */
  private requeueOldest(): void {
    const packet = this.recovery.oldestUnacked();
    if (packet) this.onFramesLost(packet.frames);
  }

  // ---------------------------------------------------------------- sending

  /** The next datagram to send, or undefined. The destination is {@link path}. */
  pollTransmit(now: number): Uint8Array | undefined {
    if (now < this.quietUntil) return undefined;
    switch (this.state) {
      case 'closed':
      case 'draining':
        return undefined;
      case 'closing':
        return this.closeFrameDue ? this.buildClose() : undefined;
      case 'initial':
        return this.handshakeDue ? this.buildInitial(now) : undefined;
      case 'handshake':
        if (this.handshakeDue) {
          const answer = this.buildAnswer(now);
          if (answer) return answer;
        }
        return this.buildShort(now);
      case 'established':
        return this.buildShort(now);
    }
  }

  /** Bytes the anti-amplification limit still lets us send on the current path (Infinity once validated). */
  private amplificationBudget(): number {
    return this.pathValidated
      ? Number.POSITIVE_INFINITY
      : AMPLIFICATION_FACTOR * this.pathRecvBytes - this.pathSentBytes;
  }

  private canSendOnPath(size: number): boolean {
    if (this.pathValidated) return true;
    if (this.pathSentBytes + size > AMPLIFICATION_FACTOR * this.pathRecvBytes) {
      this.counters.amplificationBlocked++;
      return false;
    }
    return true;
  }

  private recordSent(now: number, size: number): void {
    this.counters.bytesSent += size;
    this.counters.packetsSent++;
    this.lastSentAt = now;
    if (!this.pathValidated) this.pathSentBytes += size;
  }

  private buildInitial(now: number): Uint8Array | undefined {
    const client = this.client!;
    this.handshakeDue = false;
    const out = new Uint8Array(MIN_INITIAL_SIZE);
    const w = new Writer(out);
    const pn = this.nextPn++;
    writeHeader(w, {
      kind: 'initial',
      version: client.version,
      dcid: client.originalDcid,
      scid: this.localCid,
      token: client.token,
      ephemeral: client.ephemeral.publicKey,
      pn,
    });
    const headerLength = w.offset;
    const plain = new Uint8Array(MIN_INITIAL_SIZE - headerLength - TAG_LENGTH);
    const pw = new Writer(plain);
    writeFrame(pw, { type: 'init', staticKey: client.staticKey.publicKey, payload: client.initPayload });
    // The rest stays zero: PADDING up to 1200 bytes.
    seal(client.initialKey, pn, out.subarray(0, headerLength), plain, out.subarray(headerLength));
    this.handshakeSentCount++;
    this.handshakeResendAt = now + this.rtt.pto() * 2 ** (this.handshakeSentCount - 1);
    this.lastInitialSentAt = now;
    this.recordSent(now, out.length);
    return out;
  }

  private buildAnswer(now: number): Uint8Array | undefined {
    const server = this.server!;
    const header: AnswerHeader = {
      kind: 'answer',
      version: server.version,
      dcid: this.remoteCid,
      scid: this.localCid,
      ephemeral: server.ephemeralPublic,
      pn: this.nextPn,
    };
    const replyFrame: Frame = { type: 'init-reply', payload: this.initReply };
    const plainLength = frameLength(replyFrame);
    const out = new Uint8Array(MAX_DATAGRAM + 64 + plainLength);
    const w = new Writer(out);
    writeHeader(w, header);
    const headerLength = w.offset;
    const size = headerLength + plainLength + TAG_LENGTH;
    if (!this.canSendOnPath(size)) return undefined;
    this.handshakeDue = false;
    this.nextPn++;
    const plain = new Uint8Array(plainLength);
    writeFrame(new Writer(plain), replyFrame);
    seal(this.sendKey!, header.pn, out.subarray(0, headerLength), plain, out.subarray(headerLength));
    this.handshakeSentCount++;
    this.handshakeResendAt = now + this.rtt.pto() * 2 ** (this.handshakeSentCount - 1);
    this.lastAnswerSentAt = now;
    this.recordSent(now, size);
    return out.subarray(0, size);
  }

  private buildClose(): Uint8Array | undefined {
    this.closeFrameDue = false;
    this.closeFramesSent++;
    const info = this.closeInfo ?? { code: 0, reason: '' };
    const reason = info.reason.length > 200 ? info.reason.slice(0, 200) : info.reason;
    return this.seal([{ type: 'close', code: info.code, reason }], 0);
  }

  /** Encodes frames into a short-header packet (optionally padded to `padTo` datagram bytes). */
  private seal(frames: Frame[], padTo: number): Uint8Array {
    const pn = this.nextPn++;
    // Plaintext is consumed by seal() right away, so one scratch buffer serves every packet (the
    // datagram itself must be fresh: the socket may still hold the previous one).
    const plain = sealScratch;
    const pw = sealWriter;
    pw.offset = 0;
    for (const frame of frames) writeFrame(pw, frame);
    let plainLength = pw.offset;
    if (padTo > 0)
      plainLength = Math.max(plainLength, Math.min(MAX_PLAINTEXT, padTo - SHORT_HEADER_LENGTH - TAG_LENGTH));
    // PADDING is zero bytes; the scratch buffer may still hold an earlier packet's frames there.
    if (plainLength > pw.offset) plain.fill(0, pw.offset, plainLength);
    this.sendRing?.store(pn, plain.subarray(0, plainLength));
    const out = datagramSlab.take(SHORT_HEADER_LENGTH + plainLength + TAG_LENGTH);
    // Short header written in place: first byte, destination CID, packet number (PROTOCOL.md).
    out[0] = 0x40 | (this.sendPhase << 2);
    out.set(this.remoteCid, 1);
    out[9] = pn >>> 24;
    out[10] = (pn >>> 16) & 0xff;
    out[11] = (pn >>> 8) & 0xff;
    out[12] = pn & 0xff;
    sealPacket(this.sendKey!, pn, out, SHORT_HEADER_LENGTH, plain, plainLength);
    this.sentWithKey++;
    if (this.sentWithKey >= this.options.keyUpdatePackets && this.state === 'established') {
      this.sendKey = nextPacketKey(this.sendKey!);
      this.sendPhase = this.sendPhase === 0 ? 1 : 0;
      this.sentWithKey = 0;
      this.counters.keyUpdates++;
    }
    return out;
  }

  private buildAckFrame(now: number): Frame | undefined {
    if (this.received.isEmpty) return undefined;
    const ranges = [];
    for (let i = this.received.ranges.length - 1; i >= 0 && ranges.length < 32; i--) {
      const r = this.received.ranges[i]!;
      ranges.push({ start: r.start, end: r.end });
    }
    const delayUs = Math.max(0, Math.round((now - this.largestReceivedTime) * 1000));
    return { type: 'ack', largest: this.received.largest, delayUs, ranges };
  }

  private hasStreamData(): boolean {
    if (this.sendStreams.size === 0) return false;
    const credit = this.peerMaxData - this.sentNewBytes;
    for (const stream of this.sendStreams.values()) {
      if (stream.hasRetransmit || stream.wantsFinOnly || stream.newDataAvailable(credit) > 0) return true;
    }
    return false;
  }

  private hasBlockData(): boolean {
    return this.blockRetransmit.length > 0 || this.blockQueue.length > 0;
  }

  /** The packet being assembled by buildShort (fields, not closures: this is the hot path). */
  private readonly tx: {
    frames: Frame[];
    sent: SentFrame[];
    space: number;
    ackEliciting: boolean;
    /** Space is capped to a repair source symbol (tail repair armed). */
    capped: boolean;
    /** Plaintext bytes the anti-amplification budget took off a full packet (0 on a validated path). */
    budgetCut: number;
  } = {
    frames: [],
    sent: [],
    space: 0,
    ackEliciting: false,
    capped: false,
    budgetCut: 0,
  };

  private add(frame: Frame, record?: SentFrame): void {
    const tx = this.tx;
    tx.frames.push(frame);
    tx.space -= frameLength(frame);
    if (record) tx.sent.push(record);
    if (isAckEliciting(frame)) tx.ackEliciting = true;
  }

  private buildShort(now: number): Uint8Array | undefined {
    if (!this.sendKey) return undefined;
    // Checked before anything is taken from the queues: a packet built and then refused would have
    // to be put back as lost, which cut the retransmission queue into ever smaller frames (one cut
    // per poll) and forgot ACKs that never left.
    const budget = this.amplificationBudget();
    if (budget < MIN_BUDGETED_PACKET) {
      this.counters.amplificationBlocked++;
      return undefined;
    }
    const tx = this.tx;
    // Frames are written out by seal() before the next packet is built; the sent records are kept
    // with the packet, so they need a fresh array.
    tx.frames.length = 0;
    tx.sent = [];
    const armed = this.repairArmed();
    tx.space = armed ? REPAIR_SYMBOL : MAX_PLAINTEXT;
    tx.capped = armed;
    tx.budgetCut = 0;
    // Build the packet the budget allows (no larger, so it is not refused after it is built).
    const room = budget - SHORT_HEADER_LENGTH - TAG_LENGTH;
    if (room < tx.space) {
      tx.budgetCut = MAX_PLAINTEXT - room;
      tx.space = room;
      tx.capped = false;
    }
    tx.ackEliciting = false;
    const frames = tx.frames;
    const sent = tx.sent;
    let padTo = 0;

    // Path validation frames go first and are padded to a full datagram, as in QUIC, so a
    // validation round trip also raises the anti-amplification budget.
    while (this.pathResponses.length > 0 && tx.space > 20) {
      this.add({ type: 'path-response', data: this.pathResponses.shift()! });
      padTo = MAX_DATAGRAM;
    }
    if (this.challenge && this.challengeDueAt !== undefined && now >= this.challengeDueAt) {
      if (this.challengeTries < 8) {
        this.add({ type: 'path-challenge', data: this.challenge });
        padTo = MAX_DATAGRAM;
        this.challengeTries++;
        this.challengeDueAt = now + this.rtt.pto() * 2 ** Math.min(this.challengeTries, 4);
      } else {
        this.challengeDueAt = undefined;
      }
    }

    const ackDue =
      this.ackElicitingUnacked > 0 &&
      (this.ackImmediate || (this.ackDeadline !== undefined && now >= this.ackDeadline));
    const probing = this.probesPending > 0;
    const cwndOpen = this.recovery.bytesInFlight + MAX_DATAGRAM <= this.cc.cwnd();
    const rate = this.cc.pacingRate();
    const controlPending =
      this.maxDataDirty || this.maxStreamDataDirty.size > 0 || this.resetsToSend.length > 0;
    const newData = this.hasStreamData() || this.hasBlockData();
    let dataPending = newData;
    if (!newData && armed && this.repairQueue.length === 0 && this.recovery.hasInFlight) this.planRepairs();
    const repairPending = this.repairQueue.length > 0;
    if (repairPending) dataPending = true;
    if (dataPending && this.tailFloorPn !== undefined && !this.duplicating) this.tailFloorPn = undefined;
    this.duplicating = false;
    // Copies go out only while the bottleneck queue is draining (in flight below one BDP), so they
    // never sit in front of retransmissions of packets already known lost.
    if (!dataPending && this.recovery.hasInFlight && this.recovery.bytesInFlight < this.cc.cwnd() / 2) {
      dataPending = this.duplicateTail(now);
      this.duplicating = dataPending;
    }
    let mayData = false;
    if ((dataPending || controlPending) && (cwndOpen || probing)) {
      const wait = probing ? 0 : this.pacer.delay(now, rate, MAX_DATAGRAM);
      // Sub-50 µs waits are rounding noise; a timer that short would fire at the same instant.
      if (wait <= PACING_SLACK_MS) {
        mayData = true;
        this.pacingWakeAt = undefined;
      } else {
        this.pacingWakeAt = now + wait;
      }
    } else if (!dataPending && cwndOpen && !this.blockDrainWanted) {
      // Out of data with window to spare: app-limited. Not when the application is only waiting
      // for block window (blockWindow is the limit then, like cwnd): those samples still measure the
      // path, and STARTUP's full-pipe test must keep counting them.
      this.recovery.markAppLimited();
    }

    const keepAliveDue =
      this.state === 'established' &&
      this.options.keepAliveMs > 0 &&
      now >= this.lastSentAt + this.options.keepAliveMs;
    if (frames.length === 0 && !ackDue && !mayData && !probing && !keepAliveDue) {
      // Repeating this poll before the next deadline or event would find the same, with no side
      // effect left to repeat, when either nothing is pending at all (re-checked rather than reused:
      // tail duplication above may just have requeued control frames), or data waits for the pacer
      // (its wake-up is a deadline) or for window (an ACK is an event) and the tail-redundancy
      // bookkeeping has settled.
      const idle =
        this.repairQueue.length === 0 &&
        !this.maxDataDirty &&
        this.maxStreamDataDirty.size === 0 &&
        this.resetsToSend.length === 0 &&
        !this.hasStreamData() &&
        !this.hasBlockData();
      const waiting = !this.duplicating && this.tailFloorPn === undefined;
      if (this.state === 'established' && this.pathValidated && (idle || waiting)) {
        this.quietUntil = this.nextTimeout() ?? Number.POSITIVE_INFINITY;
        // The pacer lets a packet go up to PACING_SLACK_MS before its wake-up.
        if (this.pacingWakeAt !== undefined)
          this.quietUntil = Math.min(this.quietUntil, this.pacingWakeAt - 2 * PACING_SLACK_MS);
      }
      return undefined;
    }

    // ACK (always piggybacked when anything is unacknowledged, except on a repair packet: its frame
    // fills the packet, so an ACK that is not yet due waits for the next one).
    const repairNext = mayData && repairPending && !newData && !controlPending;
    if (ackDue || (this.ackElicitingUnacked > 0 && !repairNext)) {
      const ack = this.buildAckFrame(now);
      if (ack && frameLength(ack) < tx.space - 40) {
        this.add(ack);
        this.lastAckSentAt = now;
        this.ackElicitingUnacked = 0;
        this.ackImmediate = false;
        this.ackDeadline = undefined;
      }
    }

    if (mayData) {
      if (this.maxDataDirty && tx.space > 10) {
        this.maxDataDirty = false;
        this.add({ type: 'max-data', max: this.recvMaxData }, { type: 'max-data' });
      }
      for (const id of this.maxStreamDataDirty) {
        if (tx.space < 20) break;
        const recv = this.recvStreams.get(id);
        this.maxStreamDataDirty.delete(id);
        if (recv)
          this.add({ type: 'max-stream-data', id, max: recv.maxData }, { type: 'max-stream-data', id });
      }
      while (this.resetsToSend.length > 0 && tx.space > 20) {
        const reset = this.resetsToSend.shift()!;
        this.add(
          { type: 'reset-stream', id: reset.id, code: reset.code },
          { type: 'reset-stream', ...reset },
        );
      }
      this.fillStreams();
      this.fillBlocks();
      if (repairPending && frames.length === 0) this.fillRepair();
    }

    if (probing && !tx.ackEliciting) this.add({ type: 'ping' }, { type: 'ping' });
    if (keepAliveDue && !tx.ackEliciting) this.add({ type: 'ping' }, { type: 'ping' });
    if (frames.length === 0) return undefined;

    if (padTo > 0 && !this.pathValidated) {
      // Pad only as far as the anti-amplification budget allows; the frames themselves must go.
      padTo = Math.min(padTo, AMPLIFICATION_FACTOR * this.pathRecvBytes - this.pathSentBytes);
    }
    const estimatedSize = Math.max(
      padTo,
      SHORT_HEADER_LENGTH + TAG_LENGTH + MAX_PLAINTEXT - tx.budgetCut - tx.space,
    );
    if (!this.canSendOnPath(estimatedSize)) {
      // Blocked by anti-amplification: put data frames back as lost so they are resent later.
      this.onFramesLost(sent);
      return undefined;
    }
    if (probing) this.probesPending--;
    const pn = this.nextPn;
    const datagram = this.seal(frames, padTo);
    this.recordSent(now, datagram.length);
    if (tx.ackEliciting) {
      this.recovery.onSent(now, pn, datagram.length, true, sent);
      this.pacer.onSent(now, rate, datagram.length);
    }
    return datagram;
  }

  /** Tail repair is armed once the session has seen loss (and stays armed). */
  private repairArmed(): boolean {
    if (!this.options.tailRepair || this.recovery.packetsLost === 0) return false;
    if (this.sendRing === undefined) {
      this.sendRing = new PlaintextRing(REPAIR_RING_MIN, REPAIR_SYMBOL, REPAIR_RING_PACKETS);
      this.repairFloorPn = this.nextPn;
    }
    // Twice the window in packets covers everything a tail could protect.
    this.sendRing.reserve(Math.ceil((2 * this.cc.cwnd()) / MAX_DATAGRAM));
    return true;
  }

  /**
   * Sender, out of data with packets in flight: queues repair symbols over the packets sent since
   * the last repair (at most the newest MAX_PROTECTED_PACKETS), in groups of up to 128 consecutive
   * packet numbers. Each group gets enough symbols for its expected losses plus two standard
   * deviations and one spare, at the session's measured loss rate.
   */
  private planRepairs(): void {
    const ring = this.sendRing;
    const oldest = this.recovery.oldestUnacked();
    if (ring === undefined || oldest === undefined) return;
    const end = this.nextPn;
    const start = Math.max(this.repairFloorPn, oldest.pn, end - MAX_PROTECTED_PACKETS);
    if (start >= end) return;
    this.repairFloorPn = end;
    const lossRate = Math.min(0.3, this.recovery.packetsLost / Math.max(1, this.counters.packetsSent));
    for (let first = start; first < end; first += MAX_GROUP_SPAN) {
      const span = Math.min(MAX_GROUP_SPAN, end - first);
      let stored = true;
      for (let i = 0; i < span && stored; i++) stored = ring.get(first + i) !== undefined;
      if (!stored) continue;
      const inFlight = this.recovery.protect(first, first + span);
      if (inFlight === 0) continue;
      const expected = inFlight * lossRate;
      const count = Math.min(
        span,
        MAX_REPAIRS_PER_GROUP,
        Math.ceil((expected + 2 * Math.sqrt(expected) + 1) / (1 - lossRate)),
      );
      for (let index = 0; index < count; index++) this.repairQueue.push({ firstPn: first, span, index });
    }
  }

  /** One repair symbol, encoded now (the frame fills the packet). */
  private fillRepair(): void {
    const ring = this.sendRing;
    while (ring !== undefined && this.repairQueue.length > 0) {
      const job = this.repairQueue.shift()!;
      const sources: Uint8Array[] = [];
      for (let i = 0; i < job.span; i++) {
        const plain = ring.get(job.firstPn + i);
        if (plain === undefined) break;
        sources.push(plain);
      }
      // A source slot was reused meanwhile: the group can no longer be encoded.
      if (sources.length < job.span) continue;
      const symbol = encodeRepair(sources, job.index, REPAIR_SYMBOL);
      this.tx.space = MAX_PLAINTEXT;
      this.add(
        { type: 'repair', firstPn: job.firstPn, span: job.span, index: job.index, symbol },
        { type: 'repair' },
      );
      this.counters.repairsSent++;
      break;
    }
    // Repair packets are never sources: the next tail's groups start after the last of them.
    if (this.repairQueue.length === 0) this.repairFloorPn = this.nextPn + 1;
  }

  private fillStreams(): void {
    if (this.sendStreams.size === 0) return;
    const served: number[] = [];
    for (const stream of this.sendStreams.values()) {
      if (this.tx.space < 24) break;
      // Retransmissions first.
      while (stream.hasRetransmit && this.tx.space >= 24) {
        const max = this.tx.space - streamFrameOverhead(stream.id, stream.writeOffset, 2000);
        const chunk = stream.takeRetransmit(max);
        if (!chunk) break;
        this.add(
          { type: 'stream', id: stream.id, offset: chunk.offset, data: chunk.data, fin: chunk.fin },
          { type: 'stream', id: stream.id, offset: chunk.offset, length: chunk.data.length, fin: chunk.fin },
        );
        served.push(stream.id);
      }
      if (this.tx.space < 24) break;
      const credit = this.peerMaxData - this.sentNewBytes;
      const available = stream.newDataAvailable(credit);
      if (available > 0 || stream.wantsFinOnly) {
        const max = Math.min(
          available,
          this.tx.space - streamFrameOverhead(stream.id, stream.sendOffset, 2000),
        );
        if (max <= 0 && !stream.wantsFinOnly) continue;
        const chunk = stream.takeNew(Math.max(0, max));
        this.sentNewBytes += chunk.data.length;
        this.add(
          { type: 'stream', id: stream.id, offset: chunk.offset, data: chunk.data, fin: chunk.fin },
          { type: 'stream', id: stream.id, offset: chunk.offset, length: chunk.data.length, fin: chunk.fin },
        );
        served.push(stream.id);
      }
    }
    // Round robin: streams that just sent go to the back of the line (a lone stream already is).
    if (this.sendStreams.size === 1) return;
    for (const id of served) {
      const stream = this.sendStreams.get(id);
      if (!stream) continue;
      this.sendStreams.delete(id);
      this.sendStreams.set(id, stream);
    }
  }

  private fillBlocks(): void {
    while (this.blockRetransmit.length > 0 && this.tx.space > 40) {
      const block = this.blockRetransmit[0]!;
      if (block.acked) {
        this.blockRetransmit.shift();
        continue;
      }
      const need =
        blockFrameOverhead(block.seq, block.object, block.offset, block.data.length) + block.data.length;
      if (need > this.tx.space) {
        // A block cut before tail repair was armed fits only an uncapped packet; a block keeps its
        // sequence number, so it cannot be split. That packet is then simply no repair source.
        if (this.tx.capped && need <= this.tx.space + REPAIR_FRAME_OVERHEAD) {
          this.tx.space += REPAIR_FRAME_OVERHEAD;
          this.tx.capped = false;
        }
        if (need > this.tx.space) break;
      }
      this.blockRetransmit.shift();
      block.queued = false;
      // The block is its own frame and its own sent record: no objects per packet besides it.
      this.add(block, block);
    }
    while (this.blockQueue.length > 0 && this.tx.space > 40) {
      const head = this.blockQueue[0]!;
      const seq = this.blockSeq;
      const offset = head.offset + head.pos;
      const max = this.tx.space - blockFrameOverhead(seq, head.object, offset, 2000);
      if (max <= 0) break;
      const length = Math.min(max, head.data.length - head.pos);
      const data = head.data.subarray(head.pos, head.pos + length);
      head.pos += length;
      if (head.pos >= head.data.length) this.blockQueue.shift();
      this.blockSeq++;
      const block: OutgoingBlock = {
        type: 'block',
        seq,
        object: head.object,
        offset,
        data,
        acked: false,
        queued: false,
      };
      this.add(block, block);
    }
  }
}
