import type { Duplex } from 'node:stream';
import {
  type Address,
  type Clock,
  formatAddress,
  type Logger,
  type TcpConnection,
  type TcpNetwork,
  type TcpServer,
  type TimerHandle,
} from '../../runtime/index.ts';
import type { Swarm } from '../swarm/swarm.ts';
import type { SourceClass } from '../types.ts';
import { HANDSHAKE_LENGTH, parseHandshake } from './tcp-handshake.ts';

/**
 * The BitTorrent wire over TCP, for standard clients (aria2c, Transmission, ...). One listening port
 * serves every release: an inbound socket is held until its handshake names a swarm we run, then
 * handed to that swarm like any PZ peer stream (same piece verification, choking and bans). Anything
 * that is not a plain BitTorrent handshake for one of our swarms is closed; the agent never throws on
 * what arrives here.
 */
export interface TcpWireOptions {
  /** Listen address; the port may be 0 (pick a free one). */
  host: string;
  port: number;
  /** TCP peers (inbound + outbound, handshaking or attached) at once, over all swarms. */
  maxConnections: number;
  /** How long a connected socket may take to send its 68-byte handshake. */
  handshakeTimeoutMs: number;
  dialTimeoutMs: number;
}

export const DEFAULT_TCP_WIRE_OPTIONS = {
  maxConnections: 50,
  handshakeTimeoutMs: 10_000,
  dialTimeoutMs: 5_000,
} as const;

export interface TcpWireComponents {
  tcp: TcpNetwork;
  clock: Clock;
  logger: Logger;
}

export interface TcpWire {
  localAddress(): Address;
  /** Routes inbound handshakes for `swarm.infoHash` to it; returns the unregister function. */
  register(swarm: Swarm): () => void;
  /** Dials a BitTorrent peer for a swarm; false when it failed, was refused, or we are full. */
  dial(infoHash: string, to: Address): Promise<boolean>;
  /** Sockets open now (handshaking or attached). */
  connections(): number;
  close(): Promise<void>;
}

/**
 * Where bytes from a TCP peer count. A stock client tells us nothing about its ISP: private, loopback
 * and CGN addresses are local (same ISP); anything else counts as another ISP, so locality is never
 * overstated.
 */
export function sourceClassOfHost(host: string): SourceClass {
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(host);
  if (!m) return 'peer-other-isp';
  const a = Number(m[1]);
  const b = Number(m[2]);
  const local =
    a === 10 ||
    a === 127 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 169 && b === 254) ||
    (a === 100 && b >= 64 && b <= 127);
  return local ? 'peer-same-isp' : 'peer-other-isp';
}

export async function startTcpWire(options: TcpWireOptions, components: TcpWireComponents): Promise<TcpWire> {
  const { clock, logger } = components;
  const server: TcpServer = await components.tcp.listen({ host: options.host, port: options.port });
  const swarms = new Map<string, Swarm>();
  const open = new Set<Duplex>();
  /** Outbound peers by swarm and address, so an announce does not dial the same client twice. */
  const dialled = new Set<string>();
  let closed = false;

  const track = (stream: Duplex): void => {
    open.add(stream);
    stream.once('close', () => open.delete(stream));
  };

  /** Closes the stream unless `bytes` handshake bytes arrive in time (a silent peer must not hold a slot). */
  const watchHandshake = (stream: Duplex, onBytes?: (chunk: Uint8Array) => void): (() => void) => {
    let timer: TimerHandle | undefined = clock.setTimer(options.handshakeTimeoutMs, () => {
      timer = undefined;
      logger.debug('tcp peer sent no handshake in time');
      stream.destroy();
    });
    const clear = (): void => {
      if (timer) clock.clearTimer(timer);
      timer = undefined;
    };
    stream.once('close', clear);
    if (onBytes) stream.on('data', onBytes);
    return clear;
  };

  const accept = ({ stream, remote }: TcpConnection): void => {
    if (closed || open.size >= options.maxConnections) {
      stream.destroy();
      return;
    }
    track(stream);
    let buffered = new Uint8Array(0);
    const onData = (chunk: Uint8Array): void => {
      const joined = new Uint8Array(buffered.length + chunk.length);
      joined.set(buffered);
      joined.set(chunk, buffered.length);
      buffered = joined;
      const parsed = parseHandshake(buffered);
      if (parsed.status === 'incomplete') return;
      stop();
      stream.off('data', onData);
      if (parsed.status === 'invalid') {
        logger.debug({ remote: formatAddress(remote), reason: parsed.reason }, 'tcp peer refused');
        stream.destroy();
        return;
      }
      const swarm = swarms.get(parsed.infoHash);
      if (!swarm || parsed.peerId === swarm.peerId) {
        logger.debug({ remote: formatAddress(remote) }, 'tcp peer for a swarm we do not run (or ourselves)');
        stream.destroy();
        return;
      }
      // Hand the socket over with the handshake put back, so the swarm's wire reads it as usual.
      stream.pause();
      stream.unshift(Buffer.from(buffered));
      const peer = swarm.addStream(stream, {
        id: `tcp:${remote.host}:${parsed.peerId}`,
        sourceClass: sourceClassOfHost(remote.host),
        initiator: false,
        stock: true,
      });
      if (peer) stream.resume();
    };
    const stop = watchHandshake(stream, onData);
  };
  server.onConnection(accept);

  return {
    localAddress: () => server.localAddress(),
    register(swarm) {
      swarms.set(swarm.infoHash, swarm);
      return () => {
        if (swarms.get(swarm.infoHash) === swarm) swarms.delete(swarm.infoHash);
      };
    },
    async dial(infoHash, to) {
      const key = `${infoHash}|${formatAddress(to)}`;
      if (closed || !swarms.has(infoHash) || dialled.has(key) || open.size >= options.maxConnections)
        return false;
      const own = server.localAddress();
      if (to.port === own.port && (to.host === own.host || to.host === '127.0.0.1')) return false;
      dialled.add(key);
      const controller = new AbortController();
      const timer = clock.setTimer(options.dialTimeoutMs, () =>
        controller.abort(new Error('dial timed out')),
      );
      let connection: TcpConnection;
      try {
        connection = await components.tcp.connect(to, { signal: controller.signal });
      } catch (error) {
        dialled.delete(key);
        logger.debug({ remote: formatAddress(to), err: (error as Error).message }, 'tcp dial failed');
        return false;
      } finally {
        clock.clearTimer(timer);
      }
      const { stream } = connection;
      const swarm = swarms.get(infoHash);
      if (closed || !swarm || open.size >= options.maxConnections) {
        dialled.delete(key);
        stream.destroy();
        return false;
      }
      track(stream);
      stream.once('close', () => dialled.delete(key));
      const peer = swarm.addStream(stream, {
        id: `tcp:${formatAddress(to)}`,
        sourceClass: sourceClassOfHost(to.host),
        initiator: true,
        stock: true,
      });
      if (!peer) return false;
      // Watch only after the wire's own reader is attached: no byte may flow past it.
      let seen = 0;
      const stop = watchHandshake(stream, (chunk) => {
        seen += chunk.length;
        if (seen >= HANDSHAKE_LENGTH) stop();
      });
      return true;
    },
    connections: () => open.size,
    async close() {
      if (closed) return;
      closed = true;
      swarms.clear();
      for (const stream of [...open]) stream.destroy();
      await server.close();
    },
  };
}
