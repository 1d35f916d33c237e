import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPortMapper, type MapperProtocol } from '../../../nat/portmap/mapper.ts';
import { createNatPmpClient, decodeNatPmpResponse } from '../../../nat/portmap/natpmp.ts';
import { createPcpClient, decodePcpResponse } from '../../../nat/portmap/pcp.ts';
import { parseSsdpResponse, ssdpSearch } from '../../../nat/portmap/ssdp.ts';
import { createUpnpClient, parseDeviceDescription } from '../../../nat/portmap/upnp.ts';
import { createSeededRandom, createSilentLogger, type HttpClient } from '../../../runtime/index.ts';
import { fakeIgdHttp, serveNatPmpAndPcp } from '../support/fake-gateway.ts';
import { createFakeNet } from '../support/fake-net.ts';
import { createManualClock } from '../support/manual-clock.ts';

const noHttp: HttpClient = { request: () => Promise.reject(new Error('no HTTP here')) };

async function home(externalIp = '198.51.100.77', http: HttpClient = noHttp) {
  const clock = createManualClock(0);
  const random = createSeededRandom(11);
  const net = createFakeNet(clock, random, { latencyMs: 2 });
  const realm = net.nat({
    publicIp: externalIp,
    mapping: 'endpoint-independent',
    filtering: 'address-and-port-dependent',
  });
  const gwSocket = await net.host('192.168.1.1', realm).udp.bind({ port: 5351 });
  const gateway = serveNatPmpAndPcp(gwSocket, externalIp);
  const device = net.host('192.168.1.20', realm);
  const components = { clock, random, logger: createSilentLogger(), udp: device.udp, http };
  return { clock, net, gateway, components, realm };
}

describe('NAT-PMP and PCP codecs', () => {
  it('decoders reject arbitrary bytes with a decode error and never crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        for (const decode of [decodeNatPmpResponse, decodePcpResponse]) {
          try {
            decode(bytes);
          } catch (error) {
            expect((error as { code?: string }).code).toBe('NAT_DECODE');
          }
        }
      }),
      { seed: 3, numRuns: 3000 },
    );
  });
});

describe('NAT-PMP client', () => {
  it('maps, renews with the same port, deletes', async () => {
    const { clock, gateway, components } = await home();
    const client = createNatPmpClient({ gateway: '192.168.1.1', internalHost: '192.168.1.20' }, components);
    const m = await clock.drive(client.map({ internalPort: 4000, leaseSec: 3600 }));
    expect(m.external).toEqual({ host: '198.51.100.77', port: 4000 });
    expect(m.leaseSec).toBe(3600);
    const renewed = await clock.drive(client.map({ internalPort: 4000, leaseSec: 3600, previous: m }));
    expect(renewed.external.port).toBe(4000);
    await clock.drive(client.unmap(renewed));
    expect(gateway.mappings.size).toBe(0);
    expect(gateway.requests.map((r) => r.lifetime)).toEqual([3600, 3600, 0]);
  });

  it('a silent gateway costs a bounded time; garbage is ignored; a refusal is named', async () => {
    const { clock, gateway, components } = await home();
    const client = createNatPmpClient(
      { gateway: '192.168.1.1', internalHost: '192.168.1.20', timeoutMs: 1000 },
      components,
    );
    gateway.mode = 'silent';
    const start = clock.now();
    await expect(clock.drive(client.probe())).rejects.toMatchObject({ code: 'GATEWAY_TIMEOUT' });
    expect(clock.now() - start).toBeLessThanOrEqual(1020);
    gateway.mode = 'garbage';
    await expect(clock.drive(client.probe())).rejects.toMatchObject({ code: 'GATEWAY_TIMEOUT' });
    gateway.mode = 'refuse';
    await expect(clock.drive(client.map({ internalPort: 1, leaseSec: 10 }))).rejects.toThrow(
      /not authorized/,
    );
  });
});

describe('PCP client', () => {
  it('maps with a nonce, renews with the same nonce, deletes', async () => {
    const { clock, gateway, components } = await home();
    const client = createPcpClient({ server: '192.168.1.1', internalHost: '192.168.1.20' }, components);
    await clock.drive(client.probe());
    const m = await clock.drive(client.map({ internalPort: 4000, leaseSec: 600 }));
    expect(m.external).toEqual({ host: '198.51.100.77', port: 4001 });
    const again = await clock.drive(client.map({ internalPort: 4000, leaseSec: 600, previous: m }));
    expect(again.external.port).toBe(4001);
    expect(again.handle).toEqual(m.handle);
    await clock.drive(client.unmap(again));
    expect(gateway.mappings.size).toBe(0);
  });

  it('ignores answers with the wrong nonce and says when the gateway only speaks NAT-PMP', async () => {
    const { clock, gateway, components } = await home();
    const client = createPcpClient(
      { server: '192.168.1.1', internalHost: '192.168.1.20', timeoutMs: 800 },
      components,
    );
    gateway.mode = 'wrong-nonce';
    await expect(clock.drive(client.map({ internalPort: 4000, leaseSec: 600 }))).rejects.toMatchObject({
      code: 'GATEWAY_TIMEOUT',
    });
    gateway.mode = 'nat-pmp-only';
    await expect(clock.drive(client.probe())).rejects.toMatchObject({ code: 'PCP_UNSUPPORTED' });
  });
});

describe('UPnP IGD', () => {
  it('parses descriptions, preferring WANIPConnection v2, resolving relative control URLs', () => {
    const xml = `<root><URLBase>http://10.0.0.1:5000/</URLBase>
      <service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><controlURL>/ppp</controlURL></service>
      <service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ip1</controlURL></service>
      <service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>ctl/ip2</controlURL></service></root>`;
    expect(parseDeviceDescription(xml, 'http://10.0.0.1:5000/desc.xml')).toEqual({
      serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2',
      controlUrl: 'http://10.0.0.1:5000/ctl/ip2',
      version: 2,
    });
    expect(parseDeviceDescription('<root>nothing</root>', 'http://x/')).toBeNull();
  });

  for (const version of [1, 2] as const)
    it(`maps over IGD v${version} and removes the mapping`, async () => {
      const http = fakeIgdHttp({ version, externalIp: '198.51.100.77', host: '192.168.1.1' });
      const { clock, components } = await home('198.51.100.77', http);
      const client = createUpnpClient(
        { internalHost: '192.168.1.20', location: 'http://192.168.1.1:5000/rootDesc.xml' },
        components,
      );
      const m = await clock.drive(client.map({ internalPort: 4000, leaseSec: version === 2 ? 3600 : 0 }));
      expect(m.protocol).toBe(`upnp-igd${version}`);
      expect(m.external).toEqual({ host: '198.51.100.77', port: 4000 });
      expect(http.mappings.get(4000)).toMatchObject({ internalPort: 4000, client: '192.168.1.20' });
      if (version === 2) expect(http.calls).toContain('AddAnyPortMapping');
      await clock.drive(client.unmap(m));
      expect(http.mappings.size).toBe(0);
    });

  it('a slow, lying or junk gateway fails in bounded time with a clear status', async () => {
    const http = fakeIgdHttp({ version: 2, externalIp: '198.51.100.77', host: '192.168.1.1' });
    const { clock, components } = await home('198.51.100.77', http);
    const make = () =>
      createUpnpClient(
        { internalHost: '192.168.1.20', location: 'http://192.168.1.1:5000/rootDesc.xml', timeoutMs: 1000 },
        components,
      );
    http.mode = 'slow';
    const start = clock.now();
    await expect(clock.drive(make().map({ internalPort: 1, leaseSec: 60 }))).rejects.toThrow(
      /did not answer in 1000 ms/,
    );
    expect(clock.now() - start).toBeLessThanOrEqual(1020);
    http.mode = 'junk';
    await expect(clock.drive(make().map({ internalPort: 1, leaseSec: 60 }))).rejects.toMatchObject({
      code: 'UPNP_NOT_FOUND',
    });
    http.mode = 'lie';
    await expect(clock.drive(make().map({ internalPort: 1, leaseSec: 60 }))).rejects.toMatchObject({
      code: 'UPNP_INVALID',
    });
  });

  it('SSDP: finds the gateway, ignores spoofed LOCATIONs, and survives a flood', async () => {
    const { clock, net, realm, components } = await home();
    const responder = await net.host('192.168.1.1', realm).udp.bind({ port: 1900 });
    const flooder = await net.host('192.168.1.66', realm).udp.bind({ port: 1900 });
    const answer = (loc: string) =>
      new TextEncoder().encode(
        `HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nLOCATION: ${loc}\r\n\r\n`,
      );
    responder.onMessage((_, from) => responder.send(from, answer('http://192.168.1.1:5000/rootDesc.xml')));
    const result = await clock.drive(
      ssdpSearch({ target: { host: '192.168.1.1', port: 1900 }, waitMs: 1500 }, components),
    );
    expect(result.locations).toEqual(['http://192.168.1.1:5000/rootDesc.xml']);
    expect(clock.pending()).toBe(0);

    // A flood: thousands of junk and spoofed answers from another host.
    const search = ssdpSearch({ target: { host: '192.168.1.66', port: 1900 }, waitMs: 1500 }, components);
    const floodTarget = { host: '192.168.1.20', port: 40001 };
    for (let i = 0; i < 5000; i++)
      flooder.send(floodTarget, i % 2 ? new Uint8Array(3000) : answer('http://192.168.1.1:5000/evil.xml'));
    const flooded = await clock.drive(search);
    expect(flooded.locations).toEqual([]);
    expect(flooded.received).toBeLessThanOrEqual(201);
    expect(
      parseSsdpResponse(new TextEncoder().encode('HTTP/1.1 200 OK\r\nLOCATION: javascript:x\r\n\r\n')),
    ).toBeNull();
  });
});

describe('port mapper', () => {
  const start = async (externalIp: string, protocols?: MapperProtocol[], upstreamPcp?: string[]) => {
    const h = await home(externalIp);
    const mapper = createPortMapper(
      {
        gateway: '192.168.1.1',
        internalHost: '192.168.1.20',
        internalPort: 4000,
        leaseSec: 120,
        protocols,
        upstreamPcp,
      },
      { ...h.components },
    );
    const started = h.clock.now();
    const mapped = await h.clock.drive(mapper.start());
    const result = { ...mapped, elapsedMs: h.clock.now() - started };
    return { ...h, mapper, result };
  };

  it('prefers PCP, renews at half-life, removes on stop', async () => {
    const { clock, gateway, mapper, result } = await start('198.51.100.77');
    expect(result.mapping?.protocol).toBe('pcp');
    expect(result.info).toMatchObject({ protocol: 'pcp', reachable: true, lease: 120 });
    // This gateway has no UPnP (no HTTP here): the mapper does not wait out that probe's timeout
    // once PCP answered, and says so.
    expect(result.errors.join()).toMatch(/upnp: no answer before another protocol's/);
    expect(result.elapsedMs).toBeLessThan(200);
    await clock.advance(61_000);
    expect(gateway.requests.filter((r) => r.protocol === 'pcp').length).toBe(2);
    await clock.drive(mapper.stop());
    expect(gateway.mappings.size).toBe(0);
    expect(mapper.current().mapping).toBeNull();
    await clock.advance(200_000);
    expect(gateway.requests.filter((r) => r.lifetime > 0).length).toBe(2); // no renewal after stop
  });

  it('falls back to NAT-PMP when PCP is refused', async () => {
    const h = await home('198.51.100.77');
    h.gateway.mode = 'nat-pmp-only';
    const mapper = createPortMapper(
      {
        gateway: '192.168.1.1',
        internalHost: '192.168.1.20',
        internalPort: 4000,
        protocols: ['pcp', 'nat-pmp'],
      },
      h.components,
    );
    const result = await h.clock.drive(mapper.start());
    expect(result.mapping?.protocol).toBe('nat-pmp');
    expect(result.errors.join()).toMatch(/speaks NAT-PMP only/);
  });

  it('a shared (100.64/10) external address is mapped but not reachable (NAT444)', async () => {
    const { result } = await start('100.64.3.4', ['nat-pmp']);
    expect(result.mapping?.external.host).toBe('100.64.3.4');
    expect(result.info?.reachable).toBe(false);
    expect(result.errors.join()).toMatch(/mapped but not reachable/);
    expect(result.gatewayBehindNat).toBe(true);
  });

  it('a NAT-PMP gateway without a public address (RFC 6886 result 3) is flagged as NAT444', async () => {
    const h = await home('198.51.100.77');
    h.gateway.mode = 'no-public';
    const mapper = createPortMapper(
      { gateway: '192.168.1.1', internalHost: '192.168.1.20', internalPort: 4000, protocols: ['nat-pmp'] },
      h.components,
    );
    const result = await h.clock.drive(mapper.start());
    expect(result.mapping).toBeNull();
    expect(result.gatewayBehindNat).toBe(true);
    expect(result.errors.join()).toMatch(/no public address.*NAT444/);
  });

  it('no gateway at all: no mapping, clear errors, bounded time', async () => {
    const h = await home('198.51.100.77');
    h.gateway.mode = 'silent';
    const mapper = createPortMapper(
      { gateway: '192.168.1.1', internalHost: '192.168.1.20', internalPort: 4000, timeoutMs: 1000 },
      { ...h.components, http: fakeIgdHttp({ version: 2, externalIp: 'x', host: 'x' }) },
    );
    const before = h.clock.now();
    const result = await h.clock.drive(mapper.start());
    expect(result.mapping).toBeNull();
    expect(result.errors.length).toBe(3);
    expect(h.clock.now() - before).toBeLessThan(2500);
  });
});
