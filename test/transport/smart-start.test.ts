import { describe, expect, it } from 'vitest';
import { PEER_INITIAL_WINDOW_PACKETS } from '../../agent/net/peer-network.ts';
import { createNewReno, MAX_SEGMENT, type RateSample } from '../../transport/congestion/index.ts';
import { createRateFilter } from '../../transport/congestion/rate-filter.ts';
import {
  type Connection,
  createRateHistory,
  type RateHistory,
  resolveOptions,
} from '../../transport/index.ts';
import { createPair, patternBytes } from './util/pair.ts';
import { blockTransfer } from './util/transfer.ts';

const CONTEXT = 'isp=test;type=cellular';
/** A mobile uplink: 8 Mbit/s; 120 ms added on leaving each end, so peers are 240 ms apart. */
const mobile = { delayMs: 120, rateBps: 8e6, loss: 0, queueBytes: 256 * 1024 };

const ctx = { smoothedRtt: () => 240, minRtt: () => 240, latestRtt: () => 240 };
const sample = (
  rate: number,
  priorDelivered: number,
  delivered: number,
  isAppLimited = false,
): RateSample => ({
  deliveryRate: rate,
  priorDelivered,
  delivered,
  isAppLimited,
  rttMs: 240,
});

interface CoreView {
  cc: { cwnd(): number };
  rtt: { latest: number };
}
const coreOf = (c: Connection): CoreView => (c as unknown as { core: CoreView }).core;

/** A history that always remembers `rate` and keeps what sessions record. */
function fixedHistory(rate: number): RateHistory & { recorded: number[]; asked: string[] } {
  const recorded: number[] = [];
  const asked: string[] = [];
  return {
    recorded,
    asked,
    get: (context) => {
      asked.push(context);
      return rate;
    },
    record: (_c, r) => void recorded.push(r),
  };
}

describe('smart start of the adaptive controller', () => {
  it('resumes at half the remembered rate x the handshake RTT, never below the initial window', () => {
    const adaptive = createNewReno(ctx, { tolerateRandomLoss: true });
    expect(adaptive.cwnd()).toBe(10 * MAX_SEGMENT);
    adaptive.resume?.(1e6, 240); // 8 Mbit/s, 240 ms: BDP 240 kB
    expect(adaptive.cwnd()).toBe(120_000);

    const low = createNewReno(ctx, { tolerateRandomLoss: true });
    low.resume?.(10_000, 240);
    expect(low.cwnd()).toBe(10 * MAX_SEGMENT);

    // A stalled handshake's RTT is not the path's.
    const stalled = createNewReno(ctx, { tolerateRandomLoss: true });
    stalled.resume?.(1e6, 3000);
    expect(stalled.cwnd()).toBe(10 * MAX_SEGMENT);

    // The reference NewReno stays textbook.
    expect(createNewReno(ctx).resume).toBeUndefined();
  });

  it('refuses an initial window outside 2-64 packets with a clear error', () => {
    const staticPrivateKey = new Uint8Array(32).fill(7);
    expect(resolveOptions({ staticPrivateKey }).initialWindowPackets).toBe(10);
    for (const bad of [0, 1, 65, 2.5])
      expect(() => resolveOptions({ staticPrivateKey, initialWindowPackets: bad })).toThrow(
        /initialWindowPackets must be an integer from 2 to 64/,
      );
  });

  it('estimates the rate the path delivered, not what the window allows', () => {
    const reno = createNewReno(ctx, { tolerateRandomLoss: true });
    // Acks of app-limited traffic grow the window without limit ...
    for (let i = 0; i < 200; i++) reno.onAck(i, 12_000, i, undefined);
    expect(reno.cwnd()).toBeGreaterThan(1e6);
    expect(reno.bandwidthEstimate()).toBe(0);
    // ... while the estimate follows delivery-rate samples.
    reno.onAck(300, 1200, 300, sample(500_000, 0, 1200));
    expect(reno.bandwidthEstimate()).toBe(500_000);
  });

  it('the rate filter ignores low app-limited samples and forgets a rate after 10 rounds', () => {
    const filter = createRateFilter();
    filter.add(sample(800_000, 0, 10_000));
    filter.add(sample(100_000, 10_000, 20_000, true));
    expect(filter.max()).toBe(800_000);
    filter.add(sample(900_000, 20_000, 30_000, true)); // app-limited but higher: the path did this
    expect(filter.max()).toBe(900_000);
    let delivered = 30_000;
    for (let round = 0; round < 10; round++) {
      filter.add(sample(200_000, delivered, delivered + 10_000));
      delivered += 10_000;
    }
    expect(filter.max()).toBe(200_000);
  });
});

describe('smart start on peer sessions (simulated 240 ms mobile path)', () => {
  /** One 64 KiB piece uploaded by the client; ms from the session being up to its last byte arriving. */
  async function firstPiece(history: RateHistory | undefined, seed: number, initialWindowPackets?: number) {
    const pair = await createPair({
      seed,
      clientLink: mobile,
      serverLink: { ...mobile, rateBps: 30e6 },
      client: {
        congestion: 'adaptive',
        ...(initialWindowPackets ? { initialWindowPackets } : {}),
        ...(history ? { rateHistory: history, networkContext: CONTEXT } : {}),
      },
    });
    const result = await blockTransfer(pair, patternBytes(64 * 1024, seed), 64 * 1024);
    return { ms: result.elapsedMs, pair, conn: result.conn };
  }

  it('learns the uplink while a session runs and sends the next first piece in ~1 RTT instead of ~3', async () => {
    const history = createRateHistory();
    const cold = await firstPiece(history, 3);
    // A longer session on the same uplink: it records its rate while running (not only at close).
    const pair = await createPair({
      seed: 4,
      clientLink: mobile,
      serverLink: { ...mobile, rateBps: 30e6 },
      client: { congestion: 'adaptive', rateHistory: history, networkContext: CONTEXT },
    });
    // The session stays open: what history holds now was recorded while it ran.
    await blockTransfer(pair, patternBytes(1024 * 1024, 4), 64 * 1024);
    const learned = history.get(CONTEXT);
    expect(learned).toBeGreaterThan(0.5e6); // the 8 Mbit/s uplink is 1e6 bytes/s
    expect(learned).toBeLessThan(1.1e6);

    const warm = await firstPiece(history, 5);
    const fresh = await firstPiece(undefined, 5);
    // Cold: 10, 20, 40 packets = three round trips for the 55 packets of a piece.
    expect(cold.ms).toBeGreaterThan(2.5 * 240);
    expect(fresh.ms).toBeGreaterThan(2.5 * 240);
    // Warm: one round trip, the piece paced out at the remembered rate on the way.
    expect(warm.ms).toBeLessThan(1.6 * 240);
  });

  it('with no remembered rate, a peer session (32-packet first window) sends a piece in ~2 RTT, not ~3.4', async () => {
    const textbook = await firstPiece(undefined, 6);
    const peer = await firstPiece(undefined, 6, PEER_INITIAL_WINDOW_PACKETS);
    expect(coreOf(peer.conn).cc.cwnd()).toBeGreaterThanOrEqual(32 * MAX_SEGMENT);
    // 10, 20, 40 packets: the 55 of a piece need a third round trip (measured 3.4 RTT); 32 then 64: two.
    expect(textbook.ms).toBeGreaterThan(3 * 240);
    expect(peer.ms).toBeLessThan(2.1 * 240);
  });

  it('sessions starting while others send share the remembered rate; the server side resumes too', async () => {
    const history = fixedHistory(1e6);
    const pair = await createPair({
      seed: 9,
      clientLink: { ...mobile, rateBps: undefined },
      serverLink: { ...mobile, rateBps: undefined },
      client: { congestion: 'adaptive', rateHistory: history, networkContext: CONTEXT },
      // A context read per session (a device moving between networks).
      server: { congestion: 'adaptive', rateHistory: history, networkContext: () => 'isp=test;type=wifi' },
    });
    const connect = () =>
      pair.net.run(pair.client.connect(pair.server.localAddress(), pair.server.publicKey));
    const serverSessions: Connection[] = [];
    pair.server.onConnection((c) => serverSessions.push(c));
    const first = await connect();
    const alone = coreOf(first);
    expect(alone.cc.cwnd()).toBeCloseTo(0.5 * 1e6 * (alone.rtt.latest / 1000), -2);
    // The server's session has its handshake RTT too (answer -> first 1-RTT packet) and resumed.
    await pair.net.runFor(200);
    const accepted = coreOf(serverSessions[0]!);
    expect(accepted.rtt.latest).toBeGreaterThanOrEqual(240);
    expect(accepted.rtt.latest).toBeLessThan(260);
    expect(accepted.cc.cwnd()).toBeGreaterThan(100_000);
    expect(history.asked).toEqual([CONTEXT, 'isp=test;type=wifi']);

    // Keep the first session sending, then open a second: it starts from half the rate.
    const data = patternBytes(4 * 1024 * 1024, 2);
    let offset = 0;
    const push = (): void => {
      while (
        offset < data.length &&
        first.sendBlock({ object: 1, offset, data: data.subarray(offset, offset + 65536) })
      )
        offset += 65536;
    };
    first.onDrain(push);
    push();
    await pair.net.runFor(300);
    const second = coreOf(await connect());
    expect(second.cc.cwnd()).toBeCloseTo(0.5 * 0.5e6 * (second.rtt.latest / 1000), -2);
    // What the running session recorded is the uplink's rate: its own times the sessions sending.
    await pair.net.runFor(2000);
    expect(history.recorded.length).toBeGreaterThan(0);
  });
});
