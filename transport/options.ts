import type { Address } from '../runtime/index.ts';
import type { RateHistory } from './congestion/index.ts';
import { TransportError } from './errors.ts';
import { PZ_VERSION } from './packet.ts';

/** Endpoint options. Every default lives here, in one place. */
export interface EndpointOptions {
  /** Raw 32-byte X25519 private key: this endpoint's identity for both roles. */
  staticPrivateKey: Uint8Array;
  /**
   * Congestion controller: 'bbr' (rate-based, default), 'newreno' (reference), or 'adaptive' (NewReno
   * that keeps its window on a loss with no queue behind it: polite on a shared uplink, fast on a lossy
   * radio link; congestion/newreno.ts).
   */
  congestion?: 'bbr' | 'newreno' | 'adaptive';
  /** Close a session after this long without hearing from the peer. Default 30 000 ms. */
  idleTimeoutMs?: number;
  /** Send a PING after this long without sending, to keep NAT mappings alive. Default 15 000 ms, at most 25 000; 0 disables. */
  keepAliveMs?: number;
  /** Give up a connect after this long. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** Longest we delay an ACK. Default 25 ms. */
  maxAckDelayMs?: number;
  /** Acknowledge at least every N ack-eliciting packets. Default 4. */
  ackEveryPackets?: number;
  /** Per-stream receive window. Default 1 MiB. */
  streamWindow?: number;
  /** Per-connection receive window (all streams). Default 16 MiB. */
  connectionWindow?: number;
  /** Unacknowledged block bytes before sendBlock returns false. Default 4 MiB. */
  blockWindow?: number;
  /** Streams a peer may have open at once. Default 256. */
  maxStreams?: number;
  /** Packets sent under one key before a key update. Default 65 536. */
  keyUpdatePackets?: number;
  /** Half-open handshakes above which INITIALs without a token get a stateless RETRY. Default 128; 0 = always. */
  retryThreshold?: number;
  /** Sessions this endpoint holds at most; more are refused. Default 10 000. */
  maxConnections?: number;
  /** Server role: answers a client's init payload inside the handshake (one round trip). */
  onInit?: (initPayload: Uint8Array, from: Address) => Uint8Array | undefined;
  /**
   * Network context key for smart start (e.g. "isp=AS3320;type=lte"), or a function read at each new
   * session (a device that moves between networks); unset (or no rateHistory) disables smart start.
   */
  networkContext?: string | (() => string | undefined);
  /**
   * Where smart start remembers rates (congestion/history.ts); one per process, or per uplink: a rate
   * is the uplink's, learned while sessions run. Unset disables smart start.
   */
  rateHistory?: RateHistory;
  /** Upper bound on a remembered start rate, bits/s. Default 100 Mbit/s. */
  maxInitialRateBps?: number;
  /**
   * Aggregate send-rate cap for the whole endpoint, bits/s (an edge's uplink). Sessions are served
   * round-robin under it, so many sessions share it equally. Default 0 = no cap.
   */
  maxSendRateBps?: number;
  /**
   * Tail repair: once a session has seen loss, send erasure-coded repair packets over the last flight
   * when the sender runs out of data, so tail losses are repaired without a round trip. Default true.
   */
  tailRepair?: boolean;
  /**
   * Congestion window of a new session before anything is known about its path, in packets of
   * MAX_SEGMENT (1,200) bytes. Default 10 (RFC 9002 §7.2). Smart start replaces it once a rate is
   * remembered for the session's network context.
   */
  initialWindowPackets?: number;
  /** Protocol version spoken (tests use it to provoke version negotiation). */
  version?: number;
}

export type ResolvedOptions = Required<Omit<EndpointOptions, 'onInit' | 'networkContext' | 'rateHistory'>> &
  Pick<EndpointOptions, 'onInit' | 'networkContext' | 'rateHistory'>;

export function resolveOptions(options: EndpointOptions): ResolvedOptions {
  if (!(options.staticPrivateKey instanceof Uint8Array) || options.staticPrivateKey.length !== 32) {
    throw new TransportError('CONFIG_INVALID', 'staticPrivateKey must be 32 raw bytes (X25519)');
  }
  const resolved: ResolvedOptions = {
    staticPrivateKey: options.staticPrivateKey,
    congestion: options.congestion ?? 'bbr',
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    keepAliveMs: options.keepAliveMs ?? 15_000,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    maxAckDelayMs: options.maxAckDelayMs ?? 25,
    ackEveryPackets: options.ackEveryPackets ?? 4,
    streamWindow: options.streamWindow ?? 1024 * 1024,
    connectionWindow: options.connectionWindow ?? 16 * 1024 * 1024,
    blockWindow: options.blockWindow ?? 4 * 1024 * 1024,
    maxStreams: options.maxStreams ?? 256,
    keyUpdatePackets: options.keyUpdatePackets ?? 65_536,
    retryThreshold: options.retryThreshold ?? 128,
    maxConnections: options.maxConnections ?? 10_000,
    maxInitialRateBps: options.maxInitialRateBps ?? 100_000_000,
    maxSendRateBps: options.maxSendRateBps ?? 0,
    tailRepair: options.tailRepair ?? true,
    initialWindowPackets: options.initialWindowPackets ?? 10,
    version: options.version ?? PZ_VERSION,
    onInit: options.onInit,
    networkContext: options.networkContext,
    rateHistory: options.rateHistory,
  };
  if (resolved.keepAliveMs < 0 || resolved.keepAliveMs > 25_000) {
    throw new TransportError('CONFIG_INVALID', 'keepAliveMs must be between 0 and 25000');
  }
  if (resolved.idleTimeoutMs <= 0)
    throw new TransportError('CONFIG_INVALID', 'idleTimeoutMs must be positive');
  if (
    !Number.isInteger(resolved.initialWindowPackets) ||
    resolved.initialWindowPackets < 2 ||
    resolved.initialWindowPackets > 64
  )
    throw new TransportError('CONFIG_INVALID', 'initialWindowPackets must be an integer from 2 to 64');
  if (resolved.ackEveryPackets < 1)
    throw new TransportError('CONFIG_INVALID', 'ackEveryPackets must be >= 1');
  return resolved;
}
