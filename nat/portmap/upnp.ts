/**
 * A small UPnP IGD client (v1 and v2 WANIPConnection / v1 WANPPPConnection): SSDP discovery, device
 * description, SOAP actions over the runtime HttpClient. We wrote our own because `nat-upnp` only
 * knows IGD v1 services and is unmaintained since 2017 (README, `swarmlane nat` → "Dependencies").
 */
import { type Address, type Clock, type HttpClient, withTimeout } from '../../runtime/index.ts';
import { NatError } from '../errors.ts';
import { type SsdpSearchOptions, ssdpSearch } from './ssdp.ts';
import type { MappingClient, PortMapComponents, PortMapping } from './types.ts';

const MAX_BODY = 256 * 1024;
/** IGD v2 forbids infinite leases and caps them at one week. */
const IGD2_MAX_LEASE = 604800;

export interface IgdService {
  serviceType: string;
  controlUrl: string;
  version: 1 | 2;
}

function xmlText(xml: string, tag: string): string | undefined {
  const match = new RegExp(`<(?:[\\w-]+:)?${tag}\\b[^>]*>([\\s\\S]*?)</(?:[\\w-]+:)?${tag}>`, 'i').exec(xml);
  return match ? decodeEntities(match[1]!.trim()) : undefined;
}

function decodeEntities(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Picks the best WAN connection service from a device description. */
export function parseDeviceDescription(xml: string, location: string): IgdService | null {
  const base = xmlText(xml, 'URLBase') || location;
  const services: IgdService[] = [];
  const blocks = xml.match(/<service\b[^>]*>[\s\S]*?<\/service>/gi) ?? [];
  for (const block of blocks.slice(0, 64)) {
    const serviceType = xmlText(block, 'serviceType') ?? '';
    const control = xmlText(block, 'controlURL');
    const match = /^urn:schemas-upnp-org:service:(WANIPConnection|WANPPPConnection):([12])$/.exec(
      serviceType,
    );
    if (!match || !control) continue;
    let controlUrl: string;
    try {
      controlUrl = new URL(control, base).toString();
    } catch {
      continue;
    }
    if (!controlUrl.startsWith('http://')) continue;
    services.push({ serviceType, controlUrl, version: match[2] === '2' ? 2 : 1 });
  }
  const rank = (s: IgdService): number =>
    (s.serviceType.includes('WANIP') ? 0 : 2) + (s.version === 2 ? 0 : 1);
  services.sort((a, b) => rank(a) - rank(b));
  return services[0] ?? null;
}

export function soapEnvelope(
  serviceType: string,
  action: string,
  args: Record<string, string | number>,
): string {
  const body = Object.entries(args)
    .map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`)
    .join('');
  return (
    '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>' +
    `<u:${action} xmlns:u="${serviceType}">${body}</u:${action}></s:Body></s:Envelope>\r\n`
  );
}

export class UpnpError extends NatError {
  readonly upnpCode: number | null;
  constructor(action: string, status: number, upnpCode: number | null, description: string) {
    super(
      'UPNP_REFUSED',
      `UPnP ${action} failed: ${upnpCode !== null ? `${upnpCode} ${description}` : `HTTP ${status}`}`.trim(),
    );
    this.upnpCode = upnpCode;
  }
}

async function httpWithDeadline(
  http: HttpClient,
  clock: Clock,
  timeoutMs: number,
  request: Parameters<HttpClient['request']>[0],
  outer?: AbortSignal,
) {
  const controller = new AbortController();
  const onOuter = (): void => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  try {
    return await withTimeout(
      clock,
      timeoutMs,
      http.request({ ...request, signal: controller.signal }),
      () => {
        controller.abort();
        return new NatError('GATEWAY_TIMEOUT', `UPnP: ${request.url} did not answer in ${timeoutMs} ms`);
      },
    );
  } finally {
    outer?.removeEventListener('abort', onOuter);
  }
}

export interface UpnpOptions {
  internalHost: string;
  /** Per HTTP request and for SSDP. Default 3000 ms. */
  timeoutMs?: number;
  ssdp?: Omit<SsdpSearchOptions, 'signal'>;
  /** Skip SSDP and use this description URL (the lab, or a remembered gateway). */
  location?: string;
  description?: string;
}

export function createUpnpClient(
  options: UpnpOptions,
  components: PortMapComponents,
): MappingClient & {
  readonly service: () => IgdService | null;
} {
  const { http, clock } = components;
  const timeoutMs = options.timeoutMs ?? 3000;
  let service: IgdService | null = null;
  let protocol: 'upnp-igd1' | 'upnp-igd2' = 'upnp-igd2';

  const discover = async (signal?: AbortSignal): Promise<IgdService> => {
    if (service) return service;
    const locations = options.location
      ? [options.location]
      : (await ssdpSearch({ waitMs: timeoutMs, ...options.ssdp, ...(signal ? { signal } : {}) }, components))
          .locations;
    if (locations.length === 0)
      throw new NatError('UPNP_NOT_FOUND', 'UPnP: no Internet Gateway Device answered SSDP');
    const errors: string[] = [];
    for (const location of locations.slice(0, 4)) {
      try {
        const response = await httpWithDeadline(
          http,
          clock,
          timeoutMs,
          { method: 'GET', url: location },
          signal,
        );
        if (response.status !== 200 || response.body.length > MAX_BODY) {
          errors.push(`${location}: HTTP ${response.status}`);
          continue;
        }
        const found = parseDeviceDescription(new TextDecoder().decode(response.body), location);
        if (found) {
          service = found;
          protocol = found.version === 2 ? 'upnp-igd2' : 'upnp-igd1';
          return found;
        }
        errors.push(`${location}: no WAN connection service`);
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
    throw new NatError('UPNP_NOT_FOUND', `UPnP: no usable gateway (${errors.join('; ')})`.slice(0, 290));
  };

  const soap = async (
    action: string,
    args: Record<string, string | number>,
    signal?: AbortSignal,
  ): Promise<string> => {
    const s = await discover(signal);
    const response = await httpWithDeadline(
      http,
      clock,
      timeoutMs,
      {
        method: 'POST',
        url: s.controlUrl,
        headers: {
          'content-type': 'text/xml; charset="utf-8"',
          soapaction: `"${s.serviceType}#${action}"`,
        },
        body: soapEnvelope(s.serviceType, action, args),
      },
      signal,
    );
    const text = new TextDecoder().decode(response.body.subarray(0, MAX_BODY));
    if (response.status !== 200) {
      const code = xmlText(text, 'errorCode');
      throw new UpnpError(
        action,
        response.status,
        code ? Number(code) : null,
        xmlText(text, 'errorDescription') ?? '',
      );
    }
    return text;
  };

  const externalIp = async (signal?: AbortSignal): Promise<string | null> => {
    const text = await soap('GetExternalIPAddress', {}, signal);
    const ip = xmlText(text, 'NewExternalIPAddress');
    return ip && /^\d{1,3}(\.\d{1,3}){3}$/.test(ip) ? ip : null;
  };

  const add = async (externalPort: number, internalPort: number, leaseSec: number, signal?: AbortSignal) =>
    soap(
      'AddPortMapping',
      {
        NewRemoteHost: '',
        NewExternalPort: externalPort,
        NewProtocol: 'UDP',
        NewInternalPort: internalPort,
        NewInternalClient: options.internalHost,
        NewEnabled: 1,
        NewPortMappingDescription: 'swarmlane',
        NewLeaseDuration: leaseSec,
      },
      signal,
    );

  return {
    get protocol() {
      return protocol;
    },
    service: () => service,
    async probe(signal) {
      await discover(signal);
      return { externalHost: await externalIp(signal).catch(() => null) };
    },
    async map(request, signal) {
      const s = await discover(signal);
      let lease = request.leaseSec;
      if (s.version === 2) lease = Math.min(Math.max(lease, 1), IGD2_MAX_LEASE);
      const wanted = request.previous?.external.port ?? request.externalPort ?? request.internalPort;
      let granted = wanted;
      if (s.version === 2 && !request.previous) {
        const text = await soap(
          'AddAnyPortMapping',
          {
            NewRemoteHost: '',
            NewExternalPort: wanted,
            NewProtocol: 'UDP',
            NewInternalPort: request.internalPort,
            NewInternalClient: options.internalHost,
            NewEnabled: 1,
            NewPortMappingDescription: 'swarmlane',
            NewLeaseDuration: lease,
          },
          signal,
        );
        const reserved = Number(xmlText(text, 'NewReservedPort'));
        if (!Number.isInteger(reserved) || reserved < 1 || reserved > 65535)
          throw new NatError('UPNP_INVALID', 'UPnP AddAnyPortMapping returned no valid NewReservedPort');
        granted = reserved;
      } else {
        // v1: on a conflict try a few other ports; on "only permanent leases" retry with lease 0.
        let attempt = 0;
        for (;;) {
          try {
            await add(granted, request.internalPort, lease, signal);
            break;
          } catch (error) {
            if (!(error instanceof UpnpError) || attempt++ >= 3) throw error;
            if (error.upnpCode === 725 && lease !== 0) lease = 0;
            else if (error.upnpCode === 718 && !request.previous)
              granted = 1024 + components.random.int(64000);
            else throw error;
          }
        }
      }
      const ip = await externalIp(signal).catch(() => null);
      return {
        protocol,
        gateway: new URL(s.controlUrl).hostname,
        internal: { host: options.internalHost, port: request.internalPort },
        external: { host: ip ?? '0.0.0.0', port: granted } satisfies Address,
        leaseSec: lease,
        handle: null,
      } satisfies PortMapping;
    },
    async unmap(mapping, signal) {
      await soap(
        'DeletePortMapping',
        { NewRemoteHost: '', NewExternalPort: mapping.external.port, NewProtocol: 'UDP' },
        signal,
      );
    },
  };
}
