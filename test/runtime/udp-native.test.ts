import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { Address, Logger, UdpSocket } from '../../runtime/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { createNodeUdpNetwork } from '../../runtime/node/index.ts';
import { loadNativeUdp } from '../../runtime/node/udp-native.ts';

type Counted = UdpSocket & { sendErrors(): number; kind?: string };

const open: UdpSocket[] = [];
afterEach(async () => {
  for (const socket of open.splice(0)) await socket.close();
});

async function bind(impl: 'native' | 'dgram', host = '127.0.0.1'): Promise<Counted> {
  const socket = (await createNodeUdpNetwork({ impl }).bind({ host })) as Counted;
  open.push(socket);
  return socket;
}

/** Collects datagrams until `count` arrived (or rejects after a generous wall-clock bound). */
function collect(socket: UdpSocket, count: number): Promise<Array<{ bytes: Uint8Array; from: Address }>> {
  const got: Array<{ bytes: Uint8Array; from: Address }> = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length}/${count} datagrams`)), 5000);
    socket.onMessage((bytes, from) => {
      got.push({ bytes: bytes.slice(), from });
      if (got.length === count) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

function datagram(index: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (index * 31 + i) & 0xff;
  return bytes;
}

/** Indices whose bytes differ (deep toEqual on hundreds of arrays is slow in vitest). */
function mismatches(got: Array<{ bytes: Uint8Array }>, expected: (i: number) => Uint8Array): number[] {
  const bad: number[] = [];
  got.forEach((d, i) => {
    if (!Buffer.from(d.bytes).equals(expected(i))) bad.push(i);
  });
  return bad;
}

const native = loadNativeUdp();
const describeNative = native instanceof Error ? describe.skip : describe;

describeNative('native batched UDP socket (127.0.0.1)', () => {
  it('is what auto picks when the addon is built', () => {
    expect(createNodeUdpNetwork().kind).toBe('native-batch');
  });

  it('round-trips a batch of 200 datagrams byte-exact, in order, with the sender address', async () => {
    const a = await bind('native');
    const b = await bind('native');
    expect(a.kind).toBe('native-batch');
    const arrived = collect(b, 200);
    // One turn of the event loop: all 200 leave in one flush (GSO runs of 1200-byte segments).
    for (let i = 0; i < 200; i++) a.send(b.localAddress(), datagram(i, 1200));
    const got = await arrived;
    expect(mismatches(got, (i) => datagram(i, 1200))).toEqual([]);
    expect(got[0]!.from).toEqual({ host: '127.0.0.1', port: a.localAddress().port });
    expect(a.sendErrors()).toBe(0);
  });

  it('carries a large burst of mixed sizes past the send buffer limits, and is heard by dgram', async () => {
    const a = await bind('native');
    const b = await bind('native');
    const c = await bind('dgram');
    const limits = (native as Exclude<typeof native, Error>).limits;
    // More datagrams than one flush holds; runs of equal size end with a shorter one (GSO's rule).
    const sizes = Array.from({ length: limits.txMax + 300 }, (_, i) => (i % 7 === 6 ? 1 + i : 1200));
    const arrived = collect(b, sizes.length);
    const heard = collect(c, 3);
    for (const [i, size] of sizes.entries()) a.send(b.localAddress(), datagram(i, size));
    for (let i = 0; i < 3; i++) a.send(c.localAddress(), datagram(i, 1000 + i));
    const got = await arrived;
    expect(mismatches(got, (i) => datagram(i, sizes[i]!))).toEqual([]);
    expect((await heard).map((d) => d.bytes.length)).toEqual([1000, 1001, 1002]);
  });

  it('receives empty and maximum-size datagrams from a plain dgram sender', async () => {
    const b = await bind('native');
    const sender = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', resolve));
    try {
      const arrived = collect(b, 3);
      const big = datagram(3, 65507);
      sender.send(new Uint8Array(0), b.localAddress().port, '127.0.0.1');
      sender.send(big, b.localAddress().port, '127.0.0.1');
      sender.send(datagram(4, 10), b.localAddress().port, '127.0.0.1');
      const got = await arrived;
      const byLength = got.map((d) => d.bytes.length).sort((x, y) => x - y);
      expect(byLength).toEqual([0, 10, 65507]);
      expect(Buffer.from(got.find((d) => d.bytes.length === 65507)!.bytes).equals(big)).toBe(true);
    } finally {
      sender.close();
    }
  });

  it('counts bad sends instead of throwing: oversized, host names, bad ports, IPv6 from IPv4, closed', async () => {
    const a = await bind('native');
    const b = await bind('native');
    const arrived = collect(b, 1);
    a.send(b.localAddress(), new Uint8Array(70_000));
    a.send({ host: 'not-an-ip', port: 9 }, new Uint8Array(1));
    a.send({ host: '127.0.0.1', port: 0 }, new Uint8Array(1));
    a.send({ host: '127.0.0.1', port: 70_000 }, new Uint8Array(1));
    a.send({ host: '::1', port: 9 }, new Uint8Array(1));
    a.send(b.localAddress(), datagram(1, 5));
    expect((await arrived)[0]!.bytes).toEqual(datagram(1, 5));
    expect(a.sendErrors()).toBe(5);
    await a.close();
    a.send(b.localAddress(), new Uint8Array(1));
    expect(a.sendErrors()).toBe(6);
  });

  it('rejects a port that is taken with EADDRINUSE, like node:dgram', async () => {
    const a = await bind('native');
    for (const impl of ['native', 'dgram'] as const) {
      await expect(
        createNodeUdpNetwork({ impl }).bind({ host: '127.0.0.1', port: a.localAddress().port }),
      ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    }
  });

  it('works over IPv6 and reaches IPv4 peers from a dual-stack socket', async () => {
    const v6 = await bind('native', '::1');
    const any6 = await bind('native', '::');
    const v4 = await bind('native');
    const got6 = collect(v6, 1);
    const got4 = collect(v4, 1);
    any6.send({ host: '::1', port: v6.localAddress().port }, datagram(6, 100));
    any6.send(v4.localAddress(), datagram(4, 100));
    const [six] = await got6;
    const [four] = await got4;
    expect(six!.bytes).toEqual(datagram(6, 100));
    expect(six!.from).toEqual({ host: '::1', port: any6.localAddress().port });
    expect(four!.from).toEqual({ host: '127.0.0.1', port: any6.localAddress().port });
  });
});

describe('node UDP fallback', () => {
  it('uses node:dgram when the addon cannot be loaded, says so once, and still works', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...createSilentLogger(), warn: (_obj, msg) => warnings.push(String(msg)) };
    const missing = '../../native/udp/build/Release/does-not-exist.node';
    const net = createNodeUdpNetwork({ nativeAddonPath: missing, logger });
    const again = createNodeUdpNetwork({ nativeAddonPath: missing, logger });
    expect(net.kind).toBe('dgram');
    expect(again.kind).toBe('dgram');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/node:dgram/);
    const a = (await net.bind({ host: '127.0.0.1' })) as Counted;
    const b = (await net.bind({ host: '127.0.0.1' })) as Counted;
    open.push(a, b);
    expect(a.kind).toBe('dgram');
    const arrived = collect(b, 2);
    a.send(b.localAddress(), datagram(1, 300));
    a.send({ host: '127.0.0.1', port: 70_000 }, new Uint8Array(1));
    a.send(b.localAddress(), datagram(2, 1200));
    const got = await arrived;
    expect(got.map((d) => d.bytes)).toEqual([datagram(1, 300), datagram(2, 1200)]);
    expect(a.sendErrors()).toBe(1);
  });

  it('honours impl: dgram, and impl: native fails loudly without the addon', () => {
    expect(createNodeUdpNetwork({ impl: 'dgram' }).kind).toBe('dgram');
    expect(() => createNodeUdpNetwork({ impl: 'native', nativeAddonPath: './missing.node' })).toThrow();
  });
});
