import { describe, expect, it } from 'vitest';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { CloseCode, type Connection, createEndpoint, type TransportError } from '../../transport/index.ts';
import { createPair, equalBytes, patternBytes } from './util/pair.ts';
import { blockTransfer, readAll, streamTransfer } from './util/transfer.ts';

const link = { delayMs: 50, rateBps: 20e6 };

describe('handshake', () => {
  it('completes in one round trip and carries the init payload and the reply', async () => {
    const pair = await createPair({
      serverLink: link,
      clientLink: link,
      server: { onInit: (payload) => new TextEncoder().encode(`load=3;got=${payload.length}`) },
    });
    let serverSide: Connection | undefined;
    pair.server.onConnection((c) => {
      serverSide = c;
    });
    const start = pair.net.clock.now();
    const conn = await pair.net.run(
      pair.client.connect(pair.server.localAddress(), pair.server.publicKey, {
        initPayload: new Uint8Array(7),
      }),
    );
    // RTT = 2 x 50 ms propagation plus serialisation of the 1200-byte INITIAL at 20 Mbit/s.
    const elapsed = pair.net.clock.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(100);
    expect(elapsed).toBeLessThan(101);
    expect(new TextDecoder().decode(conn.initReply)).toBe('load=3;got=7');
    await pair.net.runFor(200);
    expect(serverSide?.initPayload).toEqual(new Uint8Array(7));
    expect(Buffer.from(serverSide!.remoteStaticKey)).toEqual(Buffer.from(pair.client.publicKey));
  });

  it('pads the INITIAL to 1200 bytes', async () => {
    const sizes: number[] = [];
    const pair = await createPair({
      clientLink: {
        intercept: (bytes) => {
          sizes.push(bytes.length);
          return [bytes];
        },
      },
    });
    await pair.net.run(pair.client.connect(pair.server.localAddress(), pair.server.publicKey));
    expect(sizes[0]).toBe(1200);
  });

  it('fails cleanly against a server with the wrong static key (timeout) and on version mismatch', async () => {
    const pair = await createPair({ client: { version: 0x0bad0001 } });
    await expect(
      pair.net.run(pair.client.connect(pair.server.localAddress(), pair.server.publicKey)),
    ).rejects.toMatchObject({ code: 'VERSION_MISMATCH' });
    expect(pair.server.stats().versionNegotiations).toBe(1);

    const other = await createPair();
    const wrongKey = createSeededRandom(99).bytes(32);
    const error = (await other.net
      .run(other.client.connect(other.server.localAddress(), wrongKey, { timeoutMs: 3000 }))
      .catch((e: unknown) => e)) as TransportError;
    expect(error.code).toBe('CONNECT_TIMEOUT');
    expect(other.server.stats().authFailures).toBeGreaterThan(0);
    expect(other.server.stats().connections).toBe(0);
  });

  it('answers with a stateless retry when half-open handshakes pass the limit, and the retried client connects', async () => {
    const pair = await createPair({ server: { retryThreshold: 0 } });
    const conn = await pair.net.run(pair.client.connect(pair.server.localAddress(), pair.server.publicKey));
    expect(pair.server.stats().retriesSent).toBe(1);
    const s = conn.openStream();
    s.end('hello');
    const echoed = new Promise<string>((resolve) => {
      pair.server.onConnection((c) =>
        c.onStream((st) => readAll(st).then((b) => resolve(Buffer.from(b).toString()))),
      );
    });
    expect(await pair.net.run(echoed)).toBe('hello');
  });

  it('limits what it sends to an unvalidated address to 3x what it received', async () => {
    let toClient = 0;
    let worstRatio = 0;
    const pair = await createPair({
      server: { onInit: () => new Uint8Array(900) },
      serverLink: {
        intercept: (bytes) => {
          toClient += bytes.length;
          worstRatio = Math.max(worstRatio, toClient / pair.clientHost.bytesSent);
          return []; // The "client" never hears back: a spoofed source address.
        },
      },
    });
    const attempt = pair.client.connect(pair.server.localAddress(), pair.server.publicKey, {
      timeoutMs: 2500,
    });
    attempt.catch(() => {});
    await pair.net.runFor(20_000);
    expect(toClient).toBeGreaterThan(0);
    expect(worstRatio).toBeGreaterThan(0.5);
    expect(worstRatio).toBeLessThanOrEqual(3);
  });
});

describe('packet protection on the wire', () => {
  it('drops and counts a tampered packet, ignores a replayed one; the transfer is unaffected', async () => {
    let n = 0;
    const pair = await createPair({
      clientLink: {
        delayMs: 5,
        intercept: (bytes) => {
          n++;
          if (bytes[0] !== 0x40 && bytes[0] !== 0x44) return [bytes];
          if (n === 20) {
            const bad = bytes.slice();
            bad[bad.length - 20]! ^= 0x01;
            return [bad];
          }
          if (n % 7 === 0) return [bytes, bytes.slice()]; // replay
          return [bytes];
        },
      },
      serverLink: { delayMs: 5 },
    });
    const data = patternBytes(200_000);
    const { got } = await streamTransfer(pair, data);
    expect(equalBytes(got, data)).toBe(true);
    expect(pair.server.stats().authFailures).toBe(1);
    expect(pair.server.stats().replays).toBeGreaterThan(5);
  });
});

describe('lifecycle', () => {
  it('closes on idle timeout when the peer vanishes, but keepalives hold an idle session open', async () => {
    const pair = await createPair({
      client: { idleTimeoutMs: 5000, keepAliveMs: 1000 },
      server: { idleTimeoutMs: 5000, keepAliveMs: 1000 },
    });
    const conn = await pair.net.run(pair.client.connect(pair.server.localAddress(), pair.server.publicKey));
    const closed = new Promise<{ code: number; remote: boolean }>((resolve) => conn.onClose(resolve));
    await pair.net.runFor(20_000);
    expect(pair.client.stats().connections).toBe(1);
    pair.serverHost.link.down = true;
    const start = pair.net.clock.now();
    const info = await pair.net.run(closed);
    expect(info).toMatchObject({ code: CloseCode.IDLE_TIMEOUT, remote: false });
    expect(pair.net.clock.now() - start).toBeLessThanOrEqual(5000);
  });

  it('propagates CONNECTION_CLOSE codes and reasons', async () => {
    const pair = await createPair();
    const remoteClose = new Promise<{ code: number; reason: string; remote: boolean }>((resolve) => {
      pair.server.onConnection((c) => c.onClose(resolve));
    });
    const conn = await pair.net.run(pair.client.connect(pair.server.localAddress(), pair.server.publicKey));
    await pair.net.runFor(50);
    conn.close(0x105, 'update cancelled');
    expect(await pair.net.run(remoteClose)).toEqual({
      code: 0x105,
      reason: 'update cancelled',
      remote: true,
    });
  });

  it('updates keys during a long session without disturbing the transfer', async () => {
    const pair = await createPair({
      client: { keyUpdatePackets: 100 },
      server: { keyUpdatePackets: 100 },
      clientLink: { loss: 0.02, jitterMs: 1 },
    });
    const data = patternBytes(1024 * 1024);
    const { got, conn } = await streamTransfer(pair, data);
    expect(equalBytes(got, data)).toBe(true);
    const core = (conn as unknown as { core: { counters: { keyUpdates: number } } }).core;
    expect(core.counters.keyUpdates).toBeGreaterThanOrEqual(5);
  });
});

describe('migration', () => {
  it('a client address change mid-transfer continues the session without restarting', async () => {
    const pair = await createPair({
      serverLink: { delayMs: 20, rateBps: 20e6 },
      clientLink: { delayMs: 20 },
    });
    const data = patternBytes(4 * 1024 * 1024, 9);
    let moved = false;
    let serverSide: Connection | undefined;
    // Download: the server pushes blocks to the client.
    pair.server.onConnection((c) => {
      serverSide = c;
      let offset = 0;
      const push = (): void => {
        while (
          offset < data.length &&
          c.sendBlock({ object: 0, offset, data: data.subarray(offset, offset + 65536) })
        )
          offset += 65536;
      };
      c.onDrain(push);
      push();
    });
    const conn = await pair.net.run(pair.client.connect(pair.server.localAddress(), pair.server.publicKey));
    const out = new Uint8Array(data.length);
    let bytes = 0;
    const done = new Promise<void>((resolve) => {
      conn.onBlock((b) => {
        out.set(b.data, b.offset);
        bytes += b.data.length;
        if (!moved && bytes > data.length / 3) {
          moved = true;
          pair.clientHost.changeIp('10.0.9.9');
        }
        if (bytes === data.length) resolve();
      });
    });
    await pair.net.run(done);
    expect(equalBytes(out, data)).toBe(true);
    expect(moved).toBe(true);
    expect(pair.server.stats().connections).toBe(1);
    expect(serverSide!.remoteAddress().host).toBe('10.0.9.9');
    const core = (serverSide as unknown as { core: { counters: { migrations: number } } }).core;
    expect(core.counters.migrations).toBe(1);
  });
});

describe('demultiplexing', () => {
  it('hands STUN and hole-punch datagrams to raw handlers and lets them be sent raw', async () => {
    const pair = await createPair();
    const seen: number[] = [];
    pair.server.onRawDatagram((bytes) => seen.push(bytes[0]!));
    pair.client.sendRaw(pair.server.localAddress(), new Uint8Array([0x00, 0x01, 0, 0]));
    pair.client.sendRaw(pair.server.localAddress(), new Uint8Array([0x12, 9, 9]));
    await pair.net.runFor(10);
    expect(seen).toEqual([0x00, 0x12]);
  });
});

describe('blocks', () => {
  it('returns false when the block window is full and drains', async () => {
    const pair = await createPair({ client: { blockWindow: 64 * 1024 } });
    const data = patternBytes(512 * 1024);
    const { got } = await blockTransfer(pair, data, 32 * 1024);
    expect(equalBytes(got, data)).toBe(true);
  });
});

describe('endpoint on its own', () => {
  it('refuses bad options', () => {
    expect(() =>
      createEndpoint(
        { staticPrivateKey: new Uint8Array(5) },
        // biome-ignore lint/suspicious/noExplicitAny: never reached
        { socket: {} as any, clock: {} as any, random: createSeededRandom(1), logger: createSilentLogger() },
      ),
    ).toThrow(/staticPrivateKey/);
  });
});
