import type { Address, DatagramHandler, UdpSocket } from '../../runtime/index.ts';

/** What a simulated socket needs from the network. */
export interface SocketHost {
  /** `owned`: the sender gave the buffer up, so the network keeps it instead of copying. */
  sendFrom(socket: SimSocket, to: Address, bytes: Uint8Array, owned: boolean): void;
  unbind(socket: SimSocket): void;
}

/** A UDP socket on a simulated host: one address, one port. */
export class SimSocket implements UdpSocket {
  handlers: DatagramHandler[] = [];
  closed = false;

  constructor(
    private readonly network: SocketHost,
    readonly ip: string,
    readonly port: number,
    readonly lan: boolean,
  ) {}

  localAddress(): Address {
    return { host: this.ip, port: this.port };
  }

  send(to: Address, bytes: Uint8Array): void {
    if (this.closed) return;
    this.network.sendFrom(this, to, bytes, false);
  }

  sendOwned(to: Address, bytes: Uint8Array): void {
    if (this.closed) return;
    this.network.sendFrom(this, to, bytes, true);
  }

  onMessage(handler: DatagramHandler): () => void {
    this.handlers = [...this.handlers, handler];
    return () => {
      this.handlers = this.handlers.filter((h) => h !== handler);
    };
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.network.unbind(this);
    }
    return Promise.resolve();
  }
}
