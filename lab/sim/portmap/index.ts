import type { HttpChannel } from '../http.ts';
import type { Nat } from '../nat.ts';
import type { Network } from '../network.ts';
import type { SimNode } from '../node.ts';
import type { Scheduler } from '../scheduler.ts';
import { handleNatPmp, NATPMP_PORT, NATPMP_RESULT } from './natpmp.ts';
import { handlePcp } from './pcp.ts';
import { SSDP_PORT, ssdpResponses, UPNP_HTTP_PORT, type UpnpDevice, upnpHttpHandler } from './upnp.ts';

export { NATPMP_PORT, NATPMP_RESULT } from './natpmp.ts';
export { PCP_RESULT, PCP_VERSION } from './pcp.ts';
export { CONTROL_PATH, DESCRIPTION_PATH, SSDP_PORT, UPNP_HTTP_PORT } from './upnp.ts';

export interface PortMappingOptions {
  /**
   * UPnP IGD: answers SSDP M-SEARCH sent to 239.255.255.250:1900 on the LAN, serves the device
   * description and SOAP control over the HTTP channel at http://<lan>:<httpPort>. `version` is the
   * advertised IGD version (default 2, like miniupnpd's default); SOAP accepts v1 and v2 namespaces.
   */
  upnp?: boolean | { version?: 1 | 2; httpPort?: number };
  /** NAT-PMP (RFC 6886) on UDP 5351 at the LAN address. */
  natPmp?: boolean;
  /** PCP MAP/ANNOUNCE (RFC 6887) on UDP 5351 at the LAN address. */
  pcp?: boolean;
}

export interface PortMappingServers {
  readonly upnp: boolean;
  readonly natPmp: boolean;
  readonly pcp: boolean;
}

/**
 * Starts the configured port-mapping servers on a NAT node's inside address. NAT-PMP and PCP share
 * UDP 5351 and are told apart by the version byte; a server without one of them answers its version
 * with "unsupported version" as both RFCs require (that is how clients fall back).
 */
export function attachPortMapping(
  network: Network,
  http: HttpChannel,
  scheduler: Scheduler,
  node: SimNode,
  nat: Nat,
  options: PortMappingOptions,
): PortMappingServers {
  const natPmp = options.natPmp ?? false;
  const pcp = options.pcp ?? false;
  const upnp = options.upnp !== undefined && options.upnp !== false;
  const bootTime = scheduler.now;
  const epoch = (): number => Math.floor((scheduler.now - bootTime) / 1000);

  if (natPmp || pcp) {
    const socket = network.bind(node, node.lanAddress, NATPMP_PORT, true);
    socket.onMessage((bytes, from) => {
      let reply: Uint8Array | undefined;
      if (bytes[0] === 0)
        reply = natPmp
          ? handleNatPmp(bytes, from, nat, scheduler.now, epoch())
          : pcpOnlyAnswer(bytes, epoch(), pcp);
      else if (pcp)
        reply = handlePcp(bytes, from, nat, scheduler.now, epoch()); // other versions: UNSUPP_VERSION
      else reply = handleNatPmp(bytes, from, nat, scheduler.now, epoch()); // NAT-PMP: unsupported version
      if (reply) socket.send(from, reply);
    });
  }

  if (upnp) {
    const config = typeof options.upnp === 'object' ? options.upnp : {};
    const device: UpnpDevice = {
      version: config.version ?? 2,
      uuid: `5f1a0000-0000-4000-8000-${node.id.toString(16).padStart(12, '0')}`,
      lanAddress: node.lanAddress,
      httpPort: config.httpPort ?? UPNP_HTTP_PORT,
      nat,
      now: () => scheduler.now,
      bootTime,
    };
    const ssdp = network.bind(node, node.lanAddress, SSDP_PORT, true);
    ssdp.onMessage((bytes, from) => {
      for (const answer of ssdpResponses(new TextDecoder().decode(bytes), device)) {
        ssdp.send(from, new TextEncoder().encode(answer));
      }
    });
    http.serve(node, device.httpPort, upnpHttpHandler(device), true);
  }
  return { upnp, natPmp, pcp };
}

/**
 * No NAT-PMP here: a version-0 request gets the NAT-PMP "unsupported version" answer (RFC 6887 §9);
 * with neither protocol nothing answers.
 */
function pcpOnlyAnswer(bytes: Uint8Array, epoch: number, pcp: boolean): Uint8Array | undefined {
  if (!pcp || bytes.length < 2 || bytes[0] !== 0 || bytes[1]! >= 128) return undefined;
  const out = new Uint8Array(8);
  out[1] = 128 + bytes[1]!;
  new DataView(out.buffer).setUint16(2, NATPMP_RESULT.unsupportedVersion);
  new DataView(out.buffer).setUint32(4, epoch);
  return out;
}
