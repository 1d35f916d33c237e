import net from 'node:net';
import type { Address } from '../address.ts';
import type { TcpConnection, TcpConnectionHandler, TcpNetwork, TcpServer } from '../tcp.ts';

function remoteOf(socket: net.Socket): Address {
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) when a dual-stack server accepts an IPv4 client.
  const host = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  return { host, port: socket.remotePort ?? 0 };
}

function tune(socket: net.Socket): void {
  // BitTorrent messages are small and latency-bound (requests, haves): no Nagle delay.
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 60_000);
}

/** node:net behind the TcpNetwork seam. */
export function createNodeTcpNetwork(): TcpNetwork {
  return {
    listen(options = {}) {
      return new Promise((resolve, reject) => {
        const handlers = new Set<TcpConnectionHandler>();
        const server = net.createServer((socket) => {
          tune(socket);
          // A reset from the peer must not become an uncaught 'error' before a handler attaches.
          socket.on('error', () => socket.destroy());
          if (handlers.size === 0) {
            socket.destroy();
            return;
          }
          const connection: TcpConnection = { stream: socket, remote: remoteOf(socket) };
          for (const handler of handlers) handler(connection);
        });
        server.once('error', reject);
        server.listen({ host: options.host ?? '0.0.0.0', port: options.port ?? 0 }, () => {
          server.off('error', reject);
          // Accept errors (EMFILE, ...) are per-connection: the server itself keeps listening.
          server.on('error', () => {});
          const tcp: TcpServer = {
            localAddress() {
              const a = server.address();
              if (a === null || typeof a === 'string') return { host: '0.0.0.0', port: 0 };
              return { host: a.address, port: a.port };
            },
            onConnection(handler) {
              handlers.add(handler);
              return () => handlers.delete(handler);
            },
            close() {
              handlers.clear();
              return new Promise((done) => server.close(() => done()));
            },
          };
          resolve(tcp);
        });
      });
    },
    connect(to, options = {}) {
      return new Promise((resolve, reject) => {
        const signal = options.signal;
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const socket = net.connect({ host: to.host, port: to.port });
        const onAbort = (): void => {
          socket.destroy();
          reject(signal?.reason);
        };
        const onError = (error: Error): void => {
          signal?.removeEventListener('abort', onAbort);
          socket.destroy();
          reject(error);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        socket.once('error', onError);
        socket.once('connect', () => {
          signal?.removeEventListener('abort', onAbort);
          socket.off('error', onError);
          socket.on('error', () => socket.destroy());
          tune(socket);
          resolve({ stream: socket, remote: remoteOf(socket) });
        });
      });
    },
  };
}
