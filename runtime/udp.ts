import type { Address } from './address.ts';

export type DatagramHandler = (bytes: Uint8Array, from: Address) => void;

/** One bound UDP socket. The transport owns it; STUN and hole punching share it through the demux. */
export interface UdpSocket {
  /** The address the socket is bound to (host may be 0.0.0.0 when bound to all interfaces). */
  localAddress(): Address;
  /** Fire-and-forget, like UDP. Errors (unreachable, too large) are swallowed and counted by the impl. */
  send(to: Address, bytes: Uint8Array): void;
  /**
   * Optional: `send` where the caller gives `bytes` up (it never writes to them again), so the socket
   * may keep them instead of copying. The simulated network implements it to skip a copy per
   * datagram; a real socket copies into the kernel anyway and leaves it out (callers fall back to
   * `send`).
   */
  sendOwned?(to: Address, bytes: Uint8Array): void;
  /** Registers a receive handler; returns a function that removes it. */
  onMessage(handler: DatagramHandler): () => void;
  close(): Promise<void>;
}

export interface UdpBindOptions {
  /** Interface address; default all interfaces. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
}

/** Creates sockets: node:dgram for real, the simulated network in the lab. */
export interface UdpNetwork {
  bind(options?: UdpBindOptions): Promise<UdpSocket>;
}
