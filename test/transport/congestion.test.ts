import { describe, expect, it } from 'vitest';
import { createRateHistory, type RateHistory } from '../../transport/index.ts';
import { createPair, equalBytes, patternBytes } from './util/pair.ts';
import { blockTransfer } from './util/transfer.ts';

const MB = 1024 * 1024;
const lossyLink = { delayMs: 50, rateBps: 20e6, loss: 0.02, queueBytes: 256 * 1024 };

async function download(
  congestion: 'bbr' | 'newreno' | 'adaptive',
  size: number,
  history?: RateHistory,
  link: typeof lossyLink = lossyLink,
) {
  const context = history ? { rateHistory: history, networkContext: 'isp=test;type=lte' } : {};
  const pair = await createPair({
    seed: 71,
    // blockTransfer uploads (client -> server): the client's egress is the 20 Mbit/s bottleneck.
    clientLink: link,
    serverLink: { ...link, rateBps: undefined },
    client: { congestion, ...context },
  });
  const data = patternBytes(size, 5);
  const result = await blockTransfer(pair, data, 64 * 1024);
  expect(equalBytes(result.got, data)).toBe(true);
  result.conn.close();
  await pair.net.runFor(1000);
  return { ...result, mbps: (size * 8) / result.elapsedMs / 1000, pair };
}

describe('congestion control', () => {
  it('the rate-based controller does not back off on 2% random loss; NewReno does (>= 3x)', async () => {
    const bbr = await download('bbr', 2 * MB);
    const reno = await download('newreno', 2 * MB);
    expect(bbr.conn.stats().packetsLost).toBeGreaterThan(10);
    expect(bbr.mbps).toBeGreaterThan(3 * reno.mbps);
    expect(bbr.mbps).toBeGreaterThan(10);
  });

  it('adaptive keeps its window on random loss (>= 3x NewReno at 2 %) and still backs off when the queue overflows', async () => {
    const adaptive = await download('adaptive', 2 * MB);
    const reno = await download('newreno', 2 * MB);
    expect(adaptive.conn.stats().packetsLost).toBeGreaterThan(10);
    expect(adaptive.mbps).toBeGreaterThan(3 * reno.mbps);

    // No random loss, a 64 KiB drop-tail queue: every loss is the queue overflowing. Adaptive must
    // read it as congestion like NewReno does (a controller that ignored it would keep the queue full
    // and lose a packet in every window; BBR-style sessions lost 10-15 % on shared home uplinks).
    const queueOnly = { delayMs: 20, rateBps: 20e6, loss: 0, queueBytes: 64 * 1024 };
    const a = await download('adaptive', 4 * MB, undefined, queueOnly);
    const r = await download('newreno', 4 * MB, undefined, queueOnly);
    const lossRate = (x: typeof a) => x.conn.stats().packetsLost / ((4 * MB) / 1200);
    expect(lossRate(a)).toBeLessThanOrEqual(2 * lossRate(r) + 0.005);
    expect(a.mbps).toBeGreaterThan(0.8 * r.mbps);
  });

  it('smart start: a remembered rate speeds up the next session; a wrong one is corrected within a few RTTs', async () => {
    const history = createRateHistory();
    const cold = await download('bbr', 2 * MB, history);
    expect(history.get('isp=test;type=lte')).toBeGreaterThan(1.5e6); // ~20 Mbit/s in bytes/s
    const warm = await download('bbr', 2 * MB, history);
    expect(warm.elapsedMs).toBeLessThan(cold.elapsedMs * 0.8);

    // A history that is 10x too optimistic must not wreck the session: it is measured away.
    const wrong = createRateHistory();
    wrong.record('isp=test;type=lte', 25e6); // 200 Mbit/s on a 20 Mbit/s link
    const corrected = await download('bbr', 2 * MB, wrong);
    const core = (corrected.conn as unknown as { core: { cc: { bandwidthEstimate(): number } } }).core;
    expect(core.cc.bandwidthEstimate()).toBeLessThan(1.25 * 2.5e6);
    expect(corrected.mbps).toBeGreaterThan(5);
  });
});

describe('rate history', () => {
  it('is bounded and blends observations', () => {
    const history = createRateHistory({ maxEntries: 2, weight: 0.5 });
    history.record('a', 100);
    history.record('a', 200);
    expect(history.get('a')).toBe(150);
    history.record('b', 1);
    history.record('c', 1);
    expect(history.get('a')).toBeUndefined();
    expect(history.get('c')).toBe(1);
    history.record('c', Number.NaN);
    expect(history.get('c')).toBe(1);
  });
});
