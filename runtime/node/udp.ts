import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Address } from '../address.ts';
import type { Logger } from '../logger.ts';
import type { DatagramHandler, UdpNetwork, UdpSocket } from '../udp.ts';
import { bindNativeUdp, loadNativeUdp } from './udp-native.ts';

/** Which socket implementation a network hands out. */
export type NodeUdpKind = 'native-batch' | 'dgram';

export interface NodeUdpOptions {
  /**
   * `auto` (default): the batched native addon (native/) when it loads, else node:dgram.
   * `dgram` forces node:dgram; `native` fails when the addon is missing. The entry point maps the
   * SWARMLANE_UDP environment variable (auto | native | dgram) onto this.
   */
  impl?: 'auto' | NodeUdpKind | 'native';
  /** Told which implementation is used (debug) and, once per process, why the addon is not (warn). */
  logger?: Logger;
  /** Where the addon is; tests point it at a missing file to exercise the fallback. */
  nativeAddonPath?: string;
}

export type NodeUdpNetwork = UdpNetwork & { readonly kind: NodeUdpKind };

let fallbackReported = false;

/**
 * Real UDP behind the UdpSocket seam: the native batched socket when available (Linux, addon
 * built by `npm ci`), node:dgram otherwise. Send errors are counted, never thrown: UDP is best effort.
 */
export function createNodeUdpNetwork(options: NodeUdpOptions = {}): NodeUdpNetwork {
  const impl = options.impl ?? envImpl();
  const addon = impl === 'dgram' ? new Error('node:dgram requested') : loadNativeUdp(options.nativeAddonPath);
  if (addon instanceof Error) {
    if (impl === 'native' || impl === 'native-batch') throw addon;
    if (impl === 'auto' && !fallbackReported) {
      fallbackReported = true;
      const message = 'native UDP addon not loadable; using node:dgram (one syscall per datagram)';
      if (options.logger) options.logger.warn({ err: addon.message }, message);
      else process.emitWarning(`${message}: ${addon.message.split('\n')[0]}`, 'SwarmlaneWarning');
    }
    return { kind: 'dgram', bind: bindDgram };
  }
  options.logger?.debug({ udp: 'native-batch' }, 'UDP: batched native sockets (recvmmsg/GRO, sendmmsg/GSO)');
  return {
    kind: 'native-batch',
    // The addon takes IP literals only; a host name (rare: binds are to interfaces) goes to dgram.
    bind: async (bindOptions = {}) =>
      bindOptions.host === undefined || isIP(bindOptions.host) !== 0
        ? bindNativeUdp(addon, bindOptions)
        : bindDgram(bindOptions),
  };
}

function envImpl(): NonNullable<NodeUdpOptions['impl']> {
  const value = process.env.SWARMLANE_UDP;
  return value === 'dgram' || value === 'native' ? value : 'auto';
}

function bindDgram(options: { host?: string; port?: number } = {}): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const host = options.host ?? '0.0.0.0';
    const socket = dgram.createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', reuseAddr: false });
    const handlers = new Set<DatagramHandler>();
    let sendErrors = 0;
    socket.on('message', (msg, rinfo) => {
      const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
      const from: Address = { host: rinfo.address, port: rinfo.port };
      for (const handler of handlers) handler(bytes, from);
    });
    socket.once('error', reject);
    socket.bind({ address: host, port: options.port ?? 0 }, () => {
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
      const udp: UdpSocket & { sendErrors(): number; readonly kind: 'dgram' } = {
        kind: 'dgram',
        localAddress() {
          const a = socket.address();
          return { host: a.address, port: a.port };
        },
        send(to, bytes) {
          try {
            socket.send(bytes, to.port, to.host, countSendError);
          } catch {
            // Bad port or closed socket: dgram throws synchronously for these.
            sendErrors++;
          }
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
}
