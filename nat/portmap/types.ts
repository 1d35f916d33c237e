import type { Address, Clock, HttpClient, Logger, Random, UdpNetwork } from '../../runtime/index.ts';
import type { PortMappingInfo } from '../report.ts';

export type MappingProtocol = PortMappingInfo['protocol'];

/** A port mapping a gateway granted us. */
export interface PortMapping {
  protocol: MappingProtocol;
  /** The gateway we asked (NAT-PMP/PCP server address, or the UPnP control URL's host). */
  gateway: string;
  internal: Address;
  external: Address;
  /** Seconds; 0 = permanent (UPnP IGD v1 only). */
  leaseSec: number;
  /** Protocol state needed to renew or delete (PCP nonce, UPnP control URL). */
  handle: unknown;
}

export interface MapRequest {
  internalPort: number;
  /** Suggested external port; default the internal one. */
  externalPort?: number;
  leaseSec: number;
  previous?: PortMapping;
}

/** One port-mapping protocol towards one gateway. */
export interface MappingClient {
  readonly protocol: MappingProtocol;
  /** Cheap check that the gateway speaks this protocol; returns its external address if it says. */
  probe(signal?: AbortSignal): Promise<{ externalHost: string | null }>;
  /** Creates a mapping, or renews `previous` (same external port, same PCP nonce). */
  map(request: MapRequest, signal?: AbortSignal): Promise<PortMapping>;
  unmap(mapping: PortMapping, signal?: AbortSignal): Promise<void>;
}

export interface PortMapComponents {
  clock: Clock;
  random: Random;
  logger: Logger;
  udp: UdpNetwork;
  http: HttpClient;
}
