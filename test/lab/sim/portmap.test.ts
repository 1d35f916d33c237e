import { describe, expect, it } from 'vitest';
import {
  createSimulation,
  isSharedAddress,
  NATPMP_PORT,
  natPresets,
  PCP_RESULT,
  type SimHost,
  type Simulation,
  SSDP_MULTICAST,
  SSDP_PORT,
} from '../../../lab/sim/index.ts';
import { ipToInt } from '../../../lab/sim/ip.ts';
import type { Address, UdpSocket } from '../../../runtime/index.ts';

async function ask(
  sim: Simulation,
  socket: UdpSocket,
  to: Address,
  bytes: Uint8Array,
): Promise<Uint8Array[]> {
  const replies: Uint8Array[] = [];
  const off = socket.onMessage((b) => replies.push(b));
  socket.send(to, bytes);
  await sim.run({ deadlineMs: 500 });
  off();
  return replies;
}

/** A home with one device, a public server to test inbound reachability, optionally behind a CGN. */
function world(portMapping: Parameters<Simulation['addGateway']>[0]['portMapping'], behindCgn = false) {
  const sim = createSimulation({ seed: 9 });
  const region = sim.addRegion({ name: 'r' });
  const server = sim.addServer({ name: 'server', region });
  const isp = sim.addIsp({ name: 'isp', region, cgn: behindCgn ? natPresets.cgnEim : undefined });
  const gateway = sim.addGateway({ isp, nat: natPresets.portRestricted, portMapping });
  const device = sim.addHost({ gateway, name: 'device' });
  const other = sim.addHost({ gateway, name: 'other' });
  return { sim, server, gateway, device, other };
}

/** Can an unsolicited packet from the server reach `device`:4000 through `externalPort`? */
async function reachable(sim: Simulation, server: SimHost, device: SimHost, ip: string, port: number) {
  const listener = await device.udp.bind({ port: 4000 });
  let got = 0;
  listener.onMessage(() => got++);
  const s = await server.udp.bind();
  s.send({ host: ip, port }, new Uint8Array([7]));
  await sim.run({ deadlineMs: 500 });
  await s.close();
  await listener.close();
  return got > 0;
}

function natPmpMap(op: 1 | 2, internalPort: number, suggested: number, lifetime: number): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  b[1] = op;
  v.setUint16(4, internalPort);
  v.setUint16(6, suggested);
  v.setUint32(8, lifetime);
  return b;
}

function pcpMap(
  clientIp: string,
  internalPort: number,
  lifetime: number,
  extra: Partial<{ version: number; opcode: number; protocol: number; option: number }> = {},
): Uint8Array {
  const b = new Uint8Array(60 + (extra.option !== undefined ? 4 : 0));
  const v = new DataView(b.buffer);
  b[0] = extra.version ?? 2;
  b[1] = extra.opcode ?? 1;
  v.setUint32(4, lifetime);
  b[18] = 0xff;
  b[19] = 0xff;
  v.setUint32(20, ipToInt(clientIp));
  for (let i = 0; i < 12; i++) b[24 + i] = i + 1; // nonce
  b[36] = extra.protocol ?? 17;
  v.setUint16(40, internalPort);
  v.setUint16(42, internalPort);
  if (extra.option !== undefined) b[60] = extra.option;
  return b;
}

describe('NAT-PMP (RFC 6886)', () => {
  it('reports the external address, maps, opens the port, and deletes', async () => {
    const { sim, server, gateway, device } = world({ natPmp: true });
    const client = await device.udp.bind({ port: 5350 });
    const pmp = { host: gateway.lanAddress, port: NATPMP_PORT };
    const [ext] = await ask(sim, client, pmp, new Uint8Array([0, 0]));
    expect(ext).toHaveLength(12);
    const ev = new DataView(ext!.buffer, ext!.byteOffset);
    expect([ext![0], ext![1], ev.getUint16(2)]).toEqual([0, 128, 0]);
    expect(ev.getUint32(8)).toBe(ipToInt(gateway.wanAddress));

    expect(await reachable(sim, server, device, gateway.wanAddress, 4000)).toBe(false);
    const [map] = await ask(sim, client, pmp, natPmpMap(1, 4000, 4000, 7200));
    const mv = new DataView(map!.buffer, map!.byteOffset);
    expect(map).toHaveLength(16);
    expect([map![1], mv.getUint16(2), mv.getUint16(8), mv.getUint32(12)]).toEqual([129, 0, 4000, 7200]);
    const mapped = mv.getUint16(10);
    expect(await reachable(sim, server, device, gateway.wanAddress, mapped)).toBe(true);

    const [del] = await ask(sim, client, pmp, natPmpMap(1, 4000, 0, 0));
    expect(new DataView(del!.buffer, del!.byteOffset).getUint16(2)).toBe(0);
    expect(await reachable(sim, server, device, gateway.wanAddress, mapped)).toBe(false);
  });

  it('answers unsupported versions and opcodes with the right result codes', async () => {
    const { sim, gateway, device } = world({ natPmp: true });
    const client = await device.udp.bind();
    const pmp = { host: gateway.lanAddress, port: NATPMP_PORT };
    const [badVersion] = await ask(sim, client, pmp, new Uint8Array([1, 0]));
    expect(new DataView(badVersion!.buffer, badVersion!.byteOffset).getUint16(2)).toBe(1);
    const [badOp] = await ask(sim, client, pmp, new Uint8Array([0, 9, 0, 0]));
    expect(badOp![1]).toBe(128 + 9);
    expect(new DataView(badOp!.buffer, badOp!.byteOffset).getUint16(2)).toBe(5);
    // A PCP request to a NAT-PMP-only server: NAT-PMP "unsupported version" (how PCP clients fall back).
    const [pcpToPmp] = await ask(sim, client, pmp, pcpMap(device.address, 4000, 60));
    expect(pcpToPmp![0]).toBe(0);
    expect(new DataView(pcpToPmp!.buffer, pcpToPmp!.byteOffset).getUint16(2)).toBe(1);
  });

  it('behind a CGN the gateway reports its 100.64/10 address', async () => {
    const { sim, gateway, device } = world({ natPmp: true }, true);
    const client = await device.udp.bind();
    const [ext] = await ask(
      sim,
      client,
      { host: gateway.lanAddress, port: NATPMP_PORT },
      new Uint8Array([0, 0]),
    );
    const ip = new DataView(ext!.buffer, ext!.byteOffset).getUint32(8);
    expect(ip).toBe(ipToInt(gateway.wanAddress));
    expect(isSharedAddress(gateway.wanAddress)).toBe(true);
  });

  it('no server, no answer', async () => {
    const { sim, gateway, device } = world({});
    const client = await device.udp.bind();
    expect(
      await ask(sim, client, { host: gateway.lanAddress, port: NATPMP_PORT }, new Uint8Array([0, 0])),
    ).toEqual([]);
  });
});

describe('PCP (RFC 6887)', () => {
  it('MAP assigns a port on the external address, echoes the nonce and opens the port', async () => {
    const { sim, server, gateway, device } = world({ pcp: true });
    const client = await device.udp.bind({ port: 5350 });
    const pcp = { host: gateway.lanAddress, port: NATPMP_PORT };
    const [r] = await ask(sim, client, pcp, pcpMap(device.address, 4000, 600));
    expect(r).toHaveLength(60);
    const v = new DataView(r!.buffer, r!.byteOffset);
    expect([r![0], r![1], r![3]]).toEqual([2, 0x81, PCP_RESULT.SUCCESS]);
    expect(v.getUint32(4)).toBe(600);
    expect([...r!.subarray(24, 36)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(v.getUint16(40)).toBe(4000);
    expect(v.getUint32(56)).toBe(ipToInt(gateway.wanAddress));
    expect(await reachable(sim, server, device, gateway.wanAddress, v.getUint16(42))).toBe(true);
    const [del] = await ask(sim, client, pcp, pcpMap(device.address, 4000, 0));
    expect(del![3]).toBe(PCP_RESULT.SUCCESS);
    expect(await reachable(sim, server, device, gateway.wanAddress, v.getUint16(42))).toBe(false);
  });

  it('rejects what RFC 6887 says to reject', async () => {
    const { sim, gateway, device } = world({ pcp: true });
    const client = await device.udp.bind();
    const pcp = { host: gateway.lanAddress, port: NATPMP_PORT };
    const code = async (bytes: Uint8Array) => (await ask(sim, client, pcp, bytes))[0]?.[3];
    expect(await code(pcpMap('192.168.1.200', 4000, 60))).toBe(PCP_RESULT.ADDRESS_MISMATCH);
    expect(await code(pcpMap(device.address, 4000, 60, { version: 3 }))).toBe(PCP_RESULT.UNSUPP_VERSION);
    expect(await code(pcpMap(device.address, 4000, 60, { opcode: 2 }))).toBe(PCP_RESULT.UNSUPP_OPCODE);
    expect(await code(pcpMap(device.address, 4000, 60, { protocol: 1 }))).toBe(PCP_RESULT.UNSUPP_PROTOCOL);
    expect(await code(pcpMap(device.address, 4000, 60, { option: 1 }))).toBe(PCP_RESULT.UNSUPP_OPTION);
    expect(await code(pcpMap(device.address, 4000, 60).subarray(0, 30))).toBe(PCP_RESULT.MALFORMED_REQUEST);
    // NAT-PMP to a PCP-only server: NAT-PMP-format "unsupported version".
    const [pmp] = await ask(sim, client, pcp, new Uint8Array([0, 0]));
    expect([pmp![0], pmp![1], pmp![3]]).toEqual([0, 128, 1]);
  });

  it('a CGN offering PCP maps subscriber ports on its pool address', async () => {
    const sim = createSimulation({ seed: 9 });
    const region = sim.addRegion({ name: 'r' });
    const server = sim.addServer({ name: 'server', region });
    const isp = sim.addIsp({ name: 'isp', region, cgn: { ...natPresets.cgnEim, pcp: true } });
    const phone = sim.addHost({ isp });
    const client = await phone.udp.bind();
    const [r] = await ask(
      sim,
      client,
      { host: '100.64.0.1', port: NATPMP_PORT },
      pcpMap(phone.address, 4000, 600),
    );
    expect(r![3]).toBe(PCP_RESULT.SUCCESS);
    const v = new DataView(r!.buffer, r!.byteOffset);
    expect(v.getUint32(56)).toBe(ipToInt(isp.cgn!.pool[0]!));
    const block = isp.cgn!.nat.portBlockFor(phone.address);
    expect(v.getUint16(42)).toBeGreaterThanOrEqual(block.low);
    expect(v.getUint16(42)).toBeLessThanOrEqual(block.high);
    expect(await reachable(sim, server, phone, isp.cgn!.pool[0]!, v.getUint16(42))).toBe(true);
  });
});

describe('UPnP IGD', () => {
  const search = (st: string) =>
    new TextEncoder().encode(
      `M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\nST: ${st}\r\n\r\n`,
    );

  function soap(version: 1 | 2, action: string, args: Record<string, string | number>) {
    const service = `urn:schemas-upnp-org:service:WANIPConnection:${version}`;
    const fields = Object.entries(args)
      .map(([k, v]) => `<${k}>${v}</${k}>`)
      .join('');
    return {
      method: 'POST' as const,
      headers: { 'content-type': 'text/xml; charset="utf-8"', soapaction: `"${service}#${action}"` },
      body: `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action} xmlns:u="${service}">${fields}</u:${action}></s:Body></s:Envelope>`,
    };
  }

  async function call(
    sim: Simulation,
    host: SimHost,
    url: string,
    version: 1 | 2,
    action: string,
    args: Record<string, string | number> = {},
  ) {
    const res = await sim.settle(host.http.request({ url, ...soap(version, action, args) }));
    const text = new TextDecoder().decode(res.body);
    return { status: res.status, text, code: /<errorCode>(\d+)<\/errorCode>/.exec(text)?.[1] };
  }

  async function discover(sim: Simulation, device: SimHost, st: string) {
    const socket = await device.udp.bind();
    const replies = await ask(sim, socket, { host: SSDP_MULTICAST, port: SSDP_PORT }, search(st));
    await socket.close();
    return replies.map((r) => new TextDecoder().decode(r));
  }

  const mapping = (client: string, port: number, lease = 3600) => ({
    NewRemoteHost: '',
    NewExternalPort: port,
    NewProtocol: 'UDP',
    NewInternalPort: 4000,
    NewInternalClient: client,
    NewEnabled: 1,
    NewPortMappingDescription: 'swarmlane',
    NewLeaseDuration: lease,
  });

  it('answers SSDP searches for v1 and v2 targets and serves a v2 description', async () => {
    const { sim, gateway, device } = world({ upnp: true });
    const [v1] = await discover(sim, device, 'urn:schemas-upnp-org:device:InternetGatewayDevice:1');
    expect(v1).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(v1).toContain('ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1');
    const location = /LOCATION: (\S+)/.exec(v1!)![1]!;
    expect(location).toBe(`http://${gateway.lanAddress}:5000/rootDesc.xml`);
    expect(await discover(sim, device, 'ssdp:all')).toHaveLength(5);
    expect(await discover(sim, device, 'urn:schemas-upnp-org:device:InternetGatewayDevice:3')).toHaveLength(
      0,
    );
    const desc = await sim.settle(device.http.request({ method: 'GET', url: location }));
    const xml = new TextDecoder().decode(desc.body);
    expect(xml).toContain('urn:schemas-upnp-org:service:WANIPConnection:2');
    expect(xml).toContain('<controlURL>/ctl/IPConn</controlURL>');
  });

  it('a v1 device advertises v1 services and does not answer v2 searches', async () => {
    const { sim, device, gateway } = world({ upnp: { version: 1 } });
    expect(await discover(sim, device, 'urn:schemas-upnp-org:service:WANIPConnection:2')).toHaveLength(0);
    expect(await discover(sim, device, 'urn:schemas-upnp-org:service:WANIPConnection:1')).toHaveLength(1);
    const desc = await sim.settle(
      device.http.request({ method: 'GET', url: `http://${gateway.lanAddress}:5000/rootDesc.xml` }),
    );
    expect(new TextDecoder().decode(desc.body)).toContain('WANIPConnection:1</serviceType>');
  });

  it('SOAP: external address, add, conflict, authorization, delete', async () => {
    const { sim, server, gateway, device, other } = world({ upnp: true });
    const url = `http://${gateway.lanAddress}:5000/ctl/IPConn`;
    for (const version of [1, 2] as const) {
      const ext = await call(sim, device, url, version, 'GetExternalIPAddress');
      expect(ext.status).toBe(200);
      expect(ext.text).toContain(`<NewExternalIPAddress>${gateway.wanAddress}</NewExternalIPAddress>`);
      expect(ext.text).toContain(`xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:${version}"`);
    }
    const added = await call(sim, device, url, 2, 'AddPortMapping', mapping(device.address, 40000));
    expect(added.status).toBe(200);
    expect(added.text).toContain('AddPortMappingResponse');
    expect(await reachable(sim, server, device, gateway.wanAddress, 40000)).toBe(true);

    expect((await call(sim, other, url, 2, 'AddPortMapping', mapping(other.address, 40000))).code).toBe(
      '718',
    );
    expect((await call(sim, other, url, 2, 'AddPortMapping', mapping(device.address, 40001))).code).toBe(
      '606',
    );
    expect((await call(sim, other, url, 2, 'AddPortMapping', mapping(other.address, 0))).code).toBe('716');
    const any = await call(sim, other, url, 2, 'AddAnyPortMapping', mapping(other.address, 40000));
    const reserved = Number(/<NewReservedPort>(\d+)<\/NewReservedPort>/.exec(any.text)?.[1]);
    expect(reserved).toBeGreaterThan(0);
    expect(reserved).not.toBe(40000);
    expect((await call(sim, other, url, 1, 'AddAnyPortMapping', mapping(other.address, 40000))).code).toBe(
      '401',
    );

    const entry = await call(sim, device, url, 2, 'GetSpecificPortMappingEntry', {
      NewRemoteHost: '',
      NewExternalPort: 40000,
      NewProtocol: 'UDP',
    });
    expect(entry.text).toContain(`<NewInternalClient>${device.address}</NewInternalClient>`);
    const del = { NewRemoteHost: '', NewExternalPort: 40000, NewProtocol: 'UDP' };
    expect((await call(sim, other, url, 2, 'DeletePortMapping', del)).code).toBe('606');
    expect((await call(sim, device, url, 2, 'DeletePortMapping', del)).status).toBe(200);
    expect((await call(sim, device, url, 2, 'DeletePortMapping', del)).code).toBe('714');
    expect(await reachable(sim, server, device, gateway.wanAddress, 40000)).toBe(false);
    expect((await call(sim, device, url, 2, 'Frobnicate')).code).toBe('401');
  });

  it('leases expire', async () => {
    const { sim, server, gateway, device } = world({ upnp: true });
    const url = `http://${gateway.lanAddress}:5000/ctl/IPConn`;
    await call(sim, device, url, 2, 'AddPortMapping', mapping(device.address, 40000, 60));
    expect(await reachable(sim, server, device, gateway.wanAddress, 40000)).toBe(true);
    await sim.run({ deadlineMs: 61_000 });
    expect(await reachable(sim, server, device, gateway.wanAddress, 40000)).toBe(false);
  });

  it('a UPnP gateway behind a CGN reports its 100.64/10 external address', async () => {
    const { sim, gateway, device } = world({ upnp: true }, true);
    const ext = await call(
      sim,
      device,
      `http://${gateway.lanAddress}:5000/ctl/IPConn`,
      2,
      'GetExternalIPAddress',
    );
    const ip = /<NewExternalIPAddress>([\d.]+)</.exec(ext.text)![1]!;
    expect(isSharedAddress(ip)).toBe(true);
    expect(ip).toBe(gateway.wanAddress);
  });
});
