import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { type Connection, ConnectionCore, createEndpoint, EndpointCore } from '../../transport/index.ts';
import { createVirtualNet } from './util/virtual-net.ts';

// A lab device or an edge holds thousands of sessions, almost all idle at any moment. Timer and poll
// work must follow the sessions that have something to do: counted here, not timed.
describe('endpoint scalability', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('with 2,000 idle sessions, a busy session’s timeouts and polls touch only that session', async () => {
    const net = createVirtualNet(21);
    const random = createSeededRandom(22);
    const logger = createSilentLogger();
    const server = createEndpoint(
      { staticPrivateKey: random.bytes(32), maxConnections: 5000, retryThreshold: 5000 },
      {
        socket: await net
          .host('10.0.0.1', { delayMs: 10, rateBps: 20e6, queueBytes: 8e6 })
          .udp.bind({ port: 4433 }),
        clock: net.clock,
        random,
        logger,
      },
    );
    const client = createEndpoint(
      { staticPrivateKey: random.bytes(32) },
      {
        socket: await net.host('10.0.0.2', { delayMs: 10, rateBps: 20e6, queueBytes: 8e6 }).udp.bind(),
        clock: net.clock,
        random,
        logger,
      },
    );
    const idle: Promise<Connection>[] = [];
    for (let i = 0; i < 2000; i++) idle.push(client.connect(server.localAddress(), server.publicKey));
    await net.run(Promise.all(idle));
    // Let handshake ACKs and window updates settle.
    await net.runFor(1000);
    const busy = await net.run(client.connect(server.localAddress(), server.publicKey));
    expect(server.stats().connections).toBe(2001);

    const blocks = new Uint8Array(64 * 1024);
    const perSession = new Map<unknown, number>();
    const count = (self: unknown): void => {
      perSession.set(self, (perSession.get(self) ?? 0) + 1);
    };
    const wrap = (name: 'pollTransmit' | 'handleTimeout' | 'nextTimeout'): void => {
      const original = ConnectionCore.prototype[name] as (...args: unknown[]) => unknown;
      vi.spyOn(ConnectionCore.prototype, name).mockImplementation(function (
        this: unknown,
        ...args: unknown[]
      ) {
        count(this);
        return original.apply(this, args);
      } as never);
    };
    wrap('pollTransmit');
    wrap('handleTimeout');
    wrap('nextTimeout');
    let endpointTimeouts = 0;
    const handleTimeout = EndpointCore.prototype.handleTimeout;
    vi.spyOn(EndpointCore.prototype, 'handleTimeout').mockImplementation(function (this: EndpointCore, now) {
      endpointTimeouts++;
      handleTimeout.call(this, now);
    });

    // Two seconds of bulk transfer on the busy session (client -> server blocks).
    let offset = 0;
    const push = (): void => {
      while (busy.sendBlock({ object: 1, offset, data: blocks })) offset += blocks.length;
    };
    busy.onDrain(push);
    push();
    await net.runFor(2000);
    expect(offset).toBeGreaterThan(1024 * 1024);

    // The busy session's two ends are the two session objects polled most; everything else is idle.
    const calls = [...perSession.values()].sort((x, y) => y - x);
    const busyCalls = (calls[0] ?? 0) + (calls[1] ?? 0);
    const idleCalls = calls.slice(2).reduce((sum, n) => sum + n, 0);
    expect(endpointTimeouts).toBeGreaterThan(200);
    expect(calls[1]).toBeGreaterThan(200);
    // 4,000 idle session objects (both ends): none of them is walked per timeout or per poll.
    expect(perSession.size).toBe(2);
    expect(idleCalls).toBe(0);
    expect(busyCalls).toBeGreaterThan(endpointTimeouts);
    await client.close();
    await server.close();
  }, 60_000);
});
