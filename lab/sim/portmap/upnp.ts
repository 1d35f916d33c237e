import type { HttpResponse } from '../../../runtime/index.ts';
import type { HttpHandler } from '../http.ts';
import type { Nat, Protocol } from '../nat.ts';

/**
 * A small UPnP IGD: SSDP discovery answers and the WANIPConnection SOAP actions clients use
 * (GetExternalIPAddress, AddPortMapping, AddAnyPortMapping (v2), DeletePortMapping,
 * GetSpecificPortMappingEntry, GetStatusInfo). The device advertises IGD v1 or v2 (miniupnpd's
 * default is v2 only); control requests are accepted in either service namespace, as miniupnpd does.
 * Like miniupnpd's secure mode, a client may only map ports to itself.
 */
export const SSDP_PORT = 1900;
export const UPNP_HTTP_PORT = 5000;
export const CONTROL_PATH = '/ctl/IPConn';
export const DESCRIPTION_PATH = '/rootDesc.xml';

const UPNP_ERRORS = {
  401: 'Invalid Action',
  402: 'Invalid Args',
  606: 'Action not authorized',
  714: 'NoSuchEntryInArray',
  716: 'WildCardNotPermittedInExtPort',
  718: 'ConflictInMappingEntry',
  728: 'NoPortMapsAvailable',
} as const;

export interface UpnpDevice {
  version: 1 | 2;
  uuid: string;
  lanAddress: string;
  httpPort: number;
  nat: Nat;
  now: () => number;
  bootTime: number;
}

function deviceTypes(version: number): string[] {
  return [
    `urn:schemas-upnp-org:device:InternetGatewayDevice:${version}`,
    `urn:schemas-upnp-org:device:WANDevice:${version}`,
    `urn:schemas-upnp-org:device:WANConnectionDevice:${version}`,
    `urn:schemas-upnp-org:service:WANIPConnection:${version}`,
  ];
}

/**
 * Answers to an M-SEARCH, one per matching search target. A device of version N answers searches
 * for version <= N, echoing the searched ST (UPnP Device Architecture 1.1 §1.3.2).
 */
export function ssdpResponses(request: string, device: UpnpDevice): string[] {
  const lines = request.split(/\r?\n/);
  if (!/^M-SEARCH \* HTTP\/1\.1$/i.test(lines[0]?.trim() ?? '')) return [];
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (headers.get('man')?.replace(/"/g, '') !== 'ssdp:discover') return [];
  const st = headers.get('st');
  if (st === undefined) return [];
  const ours = deviceTypes(device.version);
  let targets: string[];
  if (st === 'ssdp:all') targets = ['upnp:rootdevice', ...ours];
  else if (st === 'upnp:rootdevice' || st === `uuid:${device.uuid}`) targets = [st];
  else {
    const match = /^(urn:schemas-upnp-org:(?:device|service):[A-Za-z]+):(\d+)$/.exec(st);
    const supported =
      match && ours.some((t) => t.startsWith(`${match[1]}:`)) && Number(match[2]) <= device.version;
    targets = supported ? [st] : [];
  }
  return targets.map((target) =>
    [
      'HTTP/1.1 200 OK',
      'CACHE-CONTROL: max-age=120',
      `ST: ${target}`,
      `USN: uuid:${device.uuid}::${target}`,
      'EXT:',
      'SERVER: Linux/6.1 UPnP/1.1 swarmlane-sim/1.0',
      `LOCATION: http://${device.lanAddress}:${device.httpPort}${DESCRIPTION_PATH}`,
      '',
      '',
    ].join('\r\n'),
  );
}

export function descriptionXml(device: UpnpDevice): string {
  const v = device.version;
  return `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>1</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:${v}</deviceType>
<friendlyName>swarmlane simulated gateway</friendlyName>
<UDN>uuid:${device.uuid}</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:${v}</deviceType>
<UDN>uuid:${device.uuid}-wan</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:${v}</deviceType>
<UDN>uuid:${device.uuid}-wanconn</UDN>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:${v}</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>${CONTROL_PATH}</controlURL>
<eventSubURL>/evt/IPConn</eventSubURL>
<SCPDURL>/WANIPCn.xml</SCPDURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
</device>
</root>
`;
}

/** The HTTP side: description document and SOAP control. */
export function upnpHttpHandler(device: UpnpDevice): HttpHandler {
  return (request) => {
    if (request.method === 'GET' && request.path === DESCRIPTION_PATH) {
      return xmlResponse(200, descriptionXml(device));
    }
    if (request.method !== 'POST' || request.path !== CONTROL_PATH) return xmlResponse(404, '');
    const soapAction = Object.entries(request.headers ?? {}).find(
      ([k]) => k.toLowerCase() === 'soapaction',
    )?.[1];
    const match = /^"?(urn:schemas-upnp-org:service:WANIPConnection:(\d+))#(\w+)"?$/.exec(
      soapAction?.trim() ?? '',
    );
    if (!match) return fault(401);
    const [, serviceType, serviceVersion, action] = match as unknown as [string, string, string, string];
    const body = typeof request.body === 'string' ? request.body : new TextDecoder().decode(request.body);
    const args = parseArgs(body);
    const client = request.remoteAddress;
    const nat = device.nat;
    const now = device.now();
    const externalIp = nat.externalIpFor(client);
    const ok = (values: Record<string, string | number> = {}) => actionResponse(serviceType, action, values);

    switch (action) {
      case 'GetExternalIPAddress':
        return ok({ NewExternalIPAddress: externalIp });
      case 'GetStatusInfo':
        return ok({
          NewConnectionStatus: 'Connected',
          NewLastConnectionError: 'ERROR_NONE',
          NewUptime: Math.floor((now - device.bootTime) / 1000),
        });
      case 'AddPortMapping':
      case 'AddAnyPortMapping': {
        if (action === 'AddAnyPortMapping' && serviceVersion === '1') return fault(401);
        const protocol = parseProtocol(args.get('NewProtocol'));
        const externalPort = Number(args.get('NewExternalPort'));
        const internalPort = Number(args.get('NewInternalPort'));
        const internalClient = args.get('NewInternalClient');
        const lease = Number(args.get('NewLeaseDuration') ?? '0');
        if (
          !protocol ||
          !validPort(internalPort) ||
          !Number.isInteger(externalPort) ||
          !Number.isInteger(lease)
        )
          return fault(402);
        if (externalPort === 0) return fault(716);
        if (internalClient !== client) return fault(606);
        // IGD v1: 0 = permanent. IGD v2: 0 means the maximum, 604800 s.
        const seconds =
          lease === 0 ? (serviceVersion === '1' ? Infinity : 604_800) : Math.min(lease, 604_800);
        const mapping = nat.addExplicitMapping(
          {
            protocol,
            internalIp: client,
            internalPort,
            externalPort,
            lifetimeMs: seconds * 1000,
            description: args.get('NewPortMappingDescription') ?? '',
            anyPortOnConflict: action === 'AddAnyPortMapping',
            via: 'upnp',
          },
          now,
        );
        if (mapping === 'conflict') return fault(718);
        if (mapping === 'exhausted') return fault(728);
        return action === 'AddAnyPortMapping' ? ok({ NewReservedPort: mapping.externalPort }) : ok();
      }
      case 'DeletePortMapping': {
        const protocol = parseProtocol(args.get('NewProtocol'));
        const externalPort = Number(args.get('NewExternalPort'));
        if (!protocol || !validPort(externalPort)) return fault(402);
        const entry = nat
          .mappings(now)
          .find(
            (m) =>
              m.explicit &&
              m.protocol === protocol &&
              m.externalPort === externalPort &&
              m.externalIp === externalIp,
          );
        if (!entry) return fault(714);
        if (entry.internalIp !== client) return fault(606);
        nat.removeExplicitMapping(protocol, externalIp, externalPort, client);
        return ok();
      }
      case 'GetSpecificPortMappingEntry': {
        const protocol = parseProtocol(args.get('NewProtocol'));
        const externalPort = Number(args.get('NewExternalPort'));
        if (!protocol || !validPort(externalPort)) return fault(402);
        const entry = nat
          .mappings(now)
          .find(
            (m) =>
              m.explicit &&
              m.protocol === protocol &&
              m.externalPort === externalPort &&
              m.externalIp === externalIp,
          );
        if (!entry) return fault(714);
        return ok({
          NewInternalPort: entry.internalPort,
          NewInternalClient: entry.internalIp,
          NewEnabled: 1,
          NewPortMappingDescription: entry.description,
          NewLeaseDuration:
            entry.leaseEnd === Infinity ? 0 : Math.max(0, Math.ceil((entry.leaseEnd - now) / 1000)),
        });
      }
      default:
        return fault(401);
    }
  };
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port < 65536;
}

function parseProtocol(value: string | undefined): Protocol | undefined {
  const v = value?.toUpperCase();
  return v === 'UDP' ? 'udp' : v === 'TCP' ? 'tcp' : undefined;
}

/** Arguments of a SOAP action: <NewName>value</NewName>, with or without a namespace prefix. */
function parseArgs(body: string): Map<string, string> {
  const args = new Map<string, string>();
  for (const m of body.matchAll(/<(?:\w+:)?(New\w+)\s*>([^<]*)<\/(?:\w+:)?\1\s*>/g)) {
    args.set(m[1]!, unescapeXml(m[2]!.trim()));
  }
  for (const m of body.matchAll(/<(?:\w+:)?(New\w+)\s*\/>/g)) args.set(m[1]!, '');
  return args;
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function envelope(inner: string): string {
  return `<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>${inner}</s:Body></s:Envelope>\r\n`;
}

function actionResponse(
  serviceType: string,
  action: string,
  values: Record<string, string | number>,
): HttpResponse {
  const fields = Object.entries(values)
    .map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`)
    .join('');
  return xmlResponse(
    200,
    envelope(`<u:${action}Response xmlns:u="${serviceType}">${fields}</u:${action}Response>`),
  );
}

function fault(code: keyof typeof UPNP_ERRORS): HttpResponse {
  return xmlResponse(
    500,
    envelope(
      `<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${UPNP_ERRORS[code]}</errorDescription></UPnPError></detail></s:Fault>`,
    ),
  );
}

function xmlResponse(status: number, xml: string): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'text/xml; charset="utf-8"', ext: '' },
    body: new TextEncoder().encode(xml),
  };
}
