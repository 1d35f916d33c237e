/**
 * SSDP discovery of UPnP Internet Gateway Devices (UPnP Device Architecture 1.1 §1.3).
 * We multicast M-SEARCH for IGD v2 and v1 and the WAN connection services, and collect LOCATION
 * headers from unicast answers. Hostile networks can flood us: answers are size-capped, counted,
 * and a LOCATION must point at the host that answered.
 */
import type { Address, Clock, UdpNetwork } from '../../runtime/index.ts';

export const SSDP_MULTICAST: Address = { host: '239.255.255.250', port: 1900 };

const SEARCH_TARGETS = [
  'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
  'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
];

export function encodeMSearch(searchTarget: string, mx = 1): Uint8Array {
  return new TextEncoder().encode(
    `M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: ${mx}\r\nST: ${searchTarget}\r\n\r\n`,
  );
}

/** Parses an SSDP answer's LOCATION; null for anything that is not a 200 answer with an http URL. */
export function parseSsdpResponse(bytes: Uint8Array): { location: string; st: string } | null {
  if (bytes.length > 2048) return null;
  const text = new TextDecoder().decode(bytes);
  const lines = text.split(/\r?\n/);
  if (!/^HTTP\/1\.[01] 200\b/.test(lines[0] ?? '')) return null;
  let location = '';
  let st = '';
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'location') location = value;
    else if (name === 'st') st = value;
  }
  if (!/^http:\/\/[^/\s]+(\/\S*)?$/.test(location)) return null;
  return { location, st };
}

export interface SsdpSearchOptions {
  /** Where to send M-SEARCH; default the SSDP multicast group (tests and the lab may use unicast). */
  target?: Address;
  /** How long to listen for answers. Default 1500 ms. */
  waitMs?: number;
  /** Stop listening after this many datagrams, valid or not (flood bound). Default 200. */
  maxResponses?: number;
  signal?: AbortSignal;
}

export interface SsdpResult {
  locations: string[];
  /** Datagrams received (a large number means a flood or a busy LAN). */
  received: number;
  ignored: number;
}

/** Searches for gateways; resolves once one plausible LOCATION arrived and a short grace passed. */
export async function ssdpSearch(
  options: SsdpSearchOptions,
  components: { udp: UdpNetwork; clock: Clock },
): Promise<SsdpResult> {
  const { clock } = components;
  const target = options.target ?? SSDP_MULTICAST;
  const waitMs = options.waitMs ?? 1500;
  const maxResponses = options.maxResponses ?? 200;
  const socket = await components.udp.bind();
  const locations: string[] = [];
  let received = 0;
  let ignored = 0;
  try {
    await new Promise<void>((resolve) => {
      let grace: ReturnType<Clock['setTimer']> | undefined;
      const done = (): void => {
        off();
        clock.clearTimer(deadline);
        if (grace) clock.clearTimer(grace);
        clock.clearTimer(repeat);
        options.signal?.removeEventListener('abort', done);
        resolve();
      };
      const off = socket.onMessage((bytes, from) => {
        received++;
        if (received > maxResponses) return done();
        const answer = parseSsdpResponse(bytes);
        if (!answer) {
          ignored++;
          return;
        }
        const host = new URL(answer.location).hostname;
        if (host !== from.host) {
          ignored++; // a LOCATION pointing elsewhere than the responder is not trusted
          return;
        }
        if (!locations.includes(answer.location)) locations.push(answer.location);
        // The first answer is usually the only gateway; give others (IGD v2 vs v1) a moment.
        grace ??= clock.setTimer(Math.min(200, waitMs), done);
      });
      const deadline = clock.setTimer(waitMs, done);
      options.signal?.addEventListener('abort', done, { once: true });
      for (const st of SEARCH_TARGETS) socket.send(target, encodeMSearch(st));
      // One repeat: SSDP is UDP multicast and the first burst may be lost.
      const repeat = clock.setTimer(Math.min(300, waitMs / 3), () => {
        for (const st of SEARCH_TARGETS.slice(0, 2)) socket.send(target, encodeMSearch(st));
      });
    });
  } finally {
    await socket.close();
  }
  return { locations, received, ignored };
}
