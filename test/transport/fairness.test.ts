import { describe, expect, it } from 'vitest';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { type Connection, createEndpoint } from '../../transport/index.ts';
import { createVirtualNet } from './util/virtual-net.ts';

/** Jain's fairness index: 1 = perfectly equal shares, 1/n = one flow takes everything. */
function jain(values: number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return (sum * sum) / (values.length * squares);
}

describe('fairness', () => {
  // The endpoint knows its uplink (maxSendRateBps, as an edge is configured) and serves sessions
  // round-robin under it; each session still runs its own congestion controller.
  it('200 concurrent sessions on one endpoint share its uplink fairly (Jain >= 0.9)', async () => {
    const net = createVirtualNet(5);
    const random = createSeededRandom(6);
    const logger = createSilentLogger();
    const serverHost = net.host('10.0.0.1', { delayMs: 20, rateBps: 40e6, queueBytes: 512 * 1024 });
    const server = createEndpoint(
      { staticPrivateKey: random.bytes(32), blockWindow: 256 * 1024, maxSendRateBps: 36e6 },
      { socket: await serverHost.udp.bind({ port: 4433 }), clock: net.clock, random, logger },
    );
    const chunk = new Uint8Array(16 * 1024);
    // Every session downloads an endless series of blocks.
    server.onConnection((c) => {
      let offset = 0;
      const push = (): void => {
        while (c.sendBlock({ object: 1, offset, data: chunk })) offset += chunk.length;
      };
      c.onDrain(push);
      push();
    });
    const received: number[] = [];
    const connects: Promise<Connection>[] = [];
    for (let i = 0; i < 200; i++) {
      const host = net.host(`10.1.${i >> 8}.${i & 0xff}`, { delayMs: 20 });
      const endpoint = createEndpoint(
        { staticPrivateKey: random.bytes(32) },
        { socket: await host.udp.bind(), clock: net.clock, random, logger },
      );
      received.push(0);
      connects.push(
        endpoint.connect(server.localAddress(), server.publicKey).then((conn) => {
          conn.onBlock((b) => {
            received[i]! += b.data.length;
          });
          return conn;
        }),
      );
    }
    await net.run(Promise.all(connects));
    await net.runFor(2000);
    const before = [...received];
    await net.runFor(3000);
    const shares = received.map((r, i) => r - before[i]!);
    const total = shares.reduce((a, b) => a + b, 0);
    // The uplink is used well...
    expect((total * 8) / 3 / 1e6).toBeGreaterThan(30);
    // ...and shared fairly.
    expect(jain(shares)).toBeGreaterThanOrEqual(0.9);
  }, 120_000);
});
