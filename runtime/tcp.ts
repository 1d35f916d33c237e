import type { Duplex } from 'node:stream';
import type { Address } from './address.ts';

/** A stream-oriented connection: node:net sockets for real, anything Duplex in tests. */
export interface TcpConnection {
  readonly stream: Duplex;
  readonly remote: Address;
}

export type TcpConnectionHandler = (connection: TcpConnection) => void;

/** One listening TCP socket. Accepted connections are handed to the handlers as they arrive. */
export interface TcpServer {
  /** The bound address (host may be 0.0.0.0 when bound to all interfaces). */
  localAddress(): Address;
  /** Registers a connection handler; returns a function that removes it. Unhandled connections are closed. */
  onConnection(handler: TcpConnectionHandler): () => void;
  /** Stops accepting; resolves once the connections handed out are closed too (their owners close them). */
  close(): Promise<void>;
}

export interface TcpListenOptions {
  /** Interface address; default all interfaces. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
}

export interface TcpConnectOptions {
  /** Aborting before the connection is up rejects and destroys the half-open socket. */
  signal?: AbortSignal;
}

/** Creates TCP servers and outgoing connections: node:net for real; the simulated lab has none. */
export interface TcpNetwork {
  listen(options?: TcpListenOptions): Promise<TcpServer>;
  connect(to: Address, options?: TcpConnectOptions): Promise<TcpConnection>;
}
