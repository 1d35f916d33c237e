import type { HttpChannel } from '../http.ts';
import type { Nat } from '../nat.ts';
import type { Network } from '../network.ts';
import type { SimNode } from '../node.ts';
import type { Scheduler } from '../scheduler.ts';

export interface PortMappingOptions {
  /** UPnP IGD: SSDP on 239.255.255.250:1900 + SOAP over HTTP on the LAN address. */
  upnp?: boolean | { versions?: Array<1 | 2>; httpPort?: number };
  /** NAT-PMP (RFC 6886) on UDP 5351 at the LAN address. */
  natPmp?: boolean;
  /** PCP MAP (RFC 6887) on UDP 5351 at the LAN address. */
  pcp?: boolean;
}

export interface PortMappingServers {
  readonly upnp: boolean;
  readonly natPmp: boolean;
  readonly pcp: boolean;
}

export function attachPortMapping(
  _network: Network,
  _http: HttpChannel,
  _scheduler: Scheduler,
  _node: SimNode,
  _nat: Nat,
  options: PortMappingOptions,
): PortMappingServers {
  return { upnp: Boolean(options.upnp), natPmp: options.natPmp ?? false, pcp: options.pcp ?? false };
}
