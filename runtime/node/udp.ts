import dgram from 'node:dgram';
import type { Address } from '../address.ts';
import type { DatagramHandler, UdpNetwork, UdpSocket } from '../udp.ts';

/** node:dgram behind the UdpSocket seam. Send errors are counted, never thrown: UDP is best effort. */
export function createNodeUdpNetwork(): UdpNetwork {
  return {
    bind(options = {}) {
      return new Promise((resolve, reject) => {
        const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
        const handlers = new Set<DatagramHandler>();
        let sendErrors = 0;
        socket.on('message', (msg, rinfo) => {
          const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
          const from: Address = { host: rinfo.address, port: rinfo.port };
          for (const handler of handlers) handler(bytes, from);
        });
        socket.once('error', reject);
        socket.bind({ address: options.host ?? '0.0.0.0', port: options.port ?? 0 }, () => {
          socket.off('error', reject);
          socket.on('error', () => {
            sendErrors++;
          });
          try {
            socket.setRecvBufferSize(8 * 1024 * 1024);
            socket.setSendBufferSize(8 * 1024 * 1024);
          } catch {
            // Buffer sizes are an optimisation; the kernel may cap them.
          }
          // One callback for every send: a closure per datagram is measurable on the transport's hot path.
          const countSendError = (error: Error | null): void => {
            if (error) sendErrors++;
          };
          const udp: UdpSocket & { sendErrors(): number } = {
            localAddress() {
              const a = socket.address();
              return { host: a.address, port: a.port };
            },
            send(to, bytes) {
              socket.send(bytes, to.port, to.host, countSendError);
            },
            onMessage(handler) {
              handlers.add(handler);
              return () => handlers.delete(handler);
            },
            close() {
              return new Promise((done) => socket.close(() => done()));
            },
            sendErrors: () => sendErrors,
          };
          resolve(udp);
        });
      });
    },
  };
}
