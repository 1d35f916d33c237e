// Scripted NAT-PMP + PCP + UPnP IGD gateway for unit tests. Real-gateway behaviour is covered by the
// miniupnpd tests in test/nat/netns; this one lets tests misbehave on purpose.

import { parseIPv4 } from '../../../nat/ip.ts';
import type { HttpClient, HttpRequest, UdpSocket } from '../../../runtime/index.ts';

export type GatewayMode =
  | 'ok'
  | 'no-public'
  | 'silent'
  | 'garbage'
  | 'wrong-nonce'
  | 'refuse'
  | 'nat-pmp-only';

export interface FakeGateway {
  mappings: Map<number, { internalHost: string; externalPort: number; lifetime: number }>;
  requests: Array<{ protocol: 'nat-pmp' | 'pcp'; lifetime: number; internalPort: number }>;
  mode: GatewayMode;
  externalIp: string;
}

export function serveNatPmpAndPcp(socket: UdpSocket, externalIp: string): FakeGateway {
  const gw: FakeGateway = { mappings: new Map(), requests: [], mode: 'ok', externalIp };
  const ext = () => parseIPv4(gw.externalIp)!;
  socket.onMessage((bytes, from) => {
    if (gw.mode === 'silent') return;
    if (gw.mode === 'garbage') {
      socket.send(from, new Uint8Array([bytes[0] ?? 0, 0xff, 1, 2, 3]));
      socket.send(from, new Uint8Array(64).fill(0x41));
      return;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes[0] === 0) {
      const op = bytes[1]!;
      if (op === 0) {
        const out = new Uint8Array(12);
        out[1] = 128;
        if (gw.mode === 'no-public') out[3] = 3;
        else out.set(ext(), 8);
        socket.send(from, out);
      } else if (op === 1) {
        const internalPort = view.getUint16(4);
        const lifetime = view.getUint32(8);
        gw.requests.push({ protocol: 'nat-pmp', lifetime, internalPort });
        const out = new Uint8Array(16);
        const ov = new DataView(out.buffer);
        out[1] = 129;
        if (gw.mode === 'refuse') ov.setUint16(2, 2);
        const externalPort = lifetime === 0 ? 0 : view.getUint16(6) || internalPort;
        if (lifetime === 0) gw.mappings.delete(internalPort);
        else gw.mappings.set(internalPort, { internalHost: from.host, externalPort, lifetime });
        ov.setUint16(8, internalPort);
        ov.setUint16(10, externalPort);
        ov.setUint32(12, lifetime);
        socket.send(from, out);
      }
      return;
    }
    if (bytes[0] === 2) {
      if (gw.mode === 'nat-pmp-only') {
        socket.send(from, new Uint8Array([0, 128 + (bytes[1]! & 0x7f), 0, 1, 0, 0, 0, 0]));
        return;
      }
      const opcode = bytes[1]! & 0x7f;
      const out = new Uint8Array(opcode === 1 ? 60 : 24);
      const ov = new DataView(out.buffer);
      out[0] = 2;
      out[1] = 0x80 | opcode;
      const lifetime = view.getUint32(4);
      ov.setUint32(4, lifetime);
      if (gw.mode === 'refuse') out[3] = 2;
      if (opcode === 1 && bytes.length >= 60) {
        out.set(bytes.subarray(24, 60), 24);
        if (gw.mode === 'wrong-nonce') out[24] = out[24]! ^ 0xff;
        const internalPort = view.getUint16(40);
        gw.requests.push({ protocol: 'pcp', lifetime, internalPort });
        const externalPort = view.getUint16(42) || internalPort + 1;
        ov.setUint16(42, externalPort);
        out.fill(0, 44, 54);
        out[54] = 0xff;
        out[55] = 0xff;
        out.set(ext(), 56);
        const clientIp = `${bytes[20]}.${bytes[21]}.${bytes[22]}.${bytes[23]}`;
        if (lifetime === 0) gw.mappings.delete(internalPort);
        else gw.mappings.set(internalPort, { internalHost: clientIp, externalPort, lifetime });
      }
      socket.send(from, out);
    }
  });
  return gw;
}

/** A minimal IGD (v1 or v2) served through the HttpClient seam. */
export function fakeIgdHttp(options: { version: 1 | 2; externalIp: string; host: string }): HttpClient & {
  mappings: Map<number, { internalPort: number; client: string; lease: number }>;
  calls: string[];
  mode: 'ok' | 'slow' | 'lie' | 'junk';
} {
  const service = `urn:schemas-upnp-org:service:WANIPConnection:${options.version}`;
  const mappings = new Map<number, { internalPort: number; client: string; lease: number }>();
  const calls: string[] = [];
  const enc = (s: string) => new TextEncoder().encode(s);
  const api = {
    mappings,
    calls,
    mode: 'ok' as 'ok' | 'slow' | 'lie' | 'junk',
    request(request: HttpRequest) {
      if (api.mode === 'slow')
        return new Promise<never>((_, reject) =>
          request.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
        );
      if (request.method === 'GET') {
        calls.push('GET');
        if (api.mode === 'junk')
          return Promise.resolve({ status: 200, headers: {}, body: enc('<root><service><serviceType>nope') });
        return Promise.resolve({
          status: 200,
          headers: {},
          body: enc(`<?xml version="1.0"?><root><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:${options.version}</deviceType><deviceList><device><serviceList>
<service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType><controlURL>/ctl/CmnIfCfg</controlURL></service>
<service><serviceType>${service}</serviceType><controlURL>/ctl/IPConn</controlURL></service>
</serviceList></device></deviceList></device></root>`),
        });
      }
      const body = String(request.body);
      const action = /<u:(\w+)/.exec(body)?.[1] ?? '';
      calls.push(action);
      const arg = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1] ?? '';
      const ok = (inner: string) =>
        Promise.resolve({
          status: 200,
          headers: {},
          body: enc(
            `<s:Envelope><s:Body><u:${action}Response xmlns:u="${service}">${inner}</u:${action}Response></s:Body></s:Envelope>`,
          ),
        });
      if (action === 'GetExternalIPAddress')
        return ok(`<NewExternalIPAddress>${options.externalIp}</NewExternalIPAddress>`);
      if (action === 'AddPortMapping' || action === 'AddAnyPortMapping') {
        const port = Number(arg('NewExternalPort'));
        const lease = Number(arg('NewLeaseDuration'));
        if (options.version === 2 && lease === 0)
          return Promise.resolve({
            status: 500,
            headers: {},
            body: enc(
              '<s:Envelope><s:Body><s:Fault><detail><UPnPError><errorCode>402</errorCode><errorDescription>Invalid Args</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>',
            ),
          });
        mappings.set(port, {
          internalPort: Number(arg('NewInternalPort')),
          client: arg('NewInternalClient'),
          lease,
        });
        if (action === 'AddAnyPortMapping')
          return ok(`<NewReservedPort>${api.mode === 'lie' ? 'banana' : port}</NewReservedPort>`);
        return ok('');
      }
      if (action === 'DeletePortMapping') {
        mappings.delete(Number(arg('NewExternalPort')));
        return ok('');
      }
      return Promise.resolve({
        status: 500,
        headers: {},
        body: enc('<errorCode>401</errorCode><errorDescription>Invalid Action</errorDescription>'),
      });
    },
  };
  return api;
}
