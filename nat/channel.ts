import type { Address, DatagramHandler } from '../runtime/index.ts';

/**
 * What STUN, port-mapping discovery and hole punching need from a socket: send and receive. A runtime
 * UdpSocket satisfies it directly; a transport Endpoint does through {@link channelFromEndpoint}, so the
 * mapping we learn is the one our sessions use.
 */
export interface DatagramChannel {
  send(to: Address, bytes: Uint8Array): void;
  onMessage(handler: DatagramHandler): () => void;
}

/** The slice of the transport's Endpoint that carries raw (non-PZ) datagrams. */
export interface RawDatagramEndpoint {
  sendRaw(to: Address, bytes: Uint8Array): void;
  onRawDatagram(handler: DatagramHandler): () => void;
}

export function channelFromEndpoint(endpoint: RawDatagramEndpoint): DatagramChannel {
  return {
    send: (to, bytes) => endpoint.sendRaw(to, bytes),
    onMessage: (handler) => endpoint.onRawDatagram(handler),
  };
}
