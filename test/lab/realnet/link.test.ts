import { describe, expect, it } from 'vitest';
import { bundleScript, createNetnsLab, hasBinary, netnsSupport } from '../../../lab/netns/index.ts';
import { emulatedWire, type LinkProfile } from '../../../lab/realnet/index.ts';

// Real kernel: two namespaces joined by an emulated wire; a UDP probe measures what the wire does.
const support = netnsSupport();
const usable = support.ok && hasBinary('nft') && hasBinary('tc') && hasBinary('gcc');

async function withPath<T>(
  profile: LinkProfile,
  body: (
    probe: string,
    a: import('../../../lab/netns/index.ts').Namespace,
    b: import('../../../lab/netns/index.ts').Namespace,
  ) => Promise<T>,
): Promise<T> {
  const probe = await bundleScript('lab/realnet/agents/probe.ts');
  const lab = await createNetnsLab();
  try {
    const a = await lab.namespace('a');
    const b = await lab.namespace('b');
    await emulatedWire(lab, 'ab', a, 'eth0', b, 'eth0', profile);
    await a.addAddress('eth0', '10.77.0.1/24');
    await b.addAddress('eth0', '10.77.0.2/24');
    return await body(probe, a, b);
  } finally {
    await lab.teardown();
  }
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN;

describe.skipIf(!usable)('emulated wire (tbf rate, nft loss, TAP delay line)', () => {
  it('adds the configured round-trip time and per-direction loss', async () => {
    const result = await withPath({ rttMs: 80, loss: 0.05 }, async (probe, a, b) => {
      const echo = b.spawn('node', [probe, 'echo', '7000']);
      await echo.waitForLine((l) => (l === 'listening' ? true : undefined), 10_000);
      const out = await a.exec('node', [probe, 'ping', '10.77.0.2', '7000', '600', '3']);
      return JSON.parse(out) as { rtts: number[]; lost: number; count: number };
    });
    const rtt = median(result.rtts);
    console.log(
      `wire rtt p50 ${rtt.toFixed(1)} ms, round-trip loss ${((100 * result.lost) / result.count).toFixed(1)} %`,
    );
    expect(rtt).toBeGreaterThan(78);
    expect(rtt).toBeLessThan(95);
    // Round trip crosses the loss rule twice: 1 - 0.95^2 = 9.75 %.
    const lossRate = result.lost / result.count;
    expect(lossRate).toBeGreaterThan(0.05);
    expect(lossRate).toBeLessThan(0.15);
  }, 60_000);

  it('limits the rate to the configured bottleneck', async () => {
    const result = await withPath({ rateBps: 8e6, rttMs: 10 }, async (probe, a, b) => {
      const sink = b.spawn('node', [probe, 'sink', '7001', '4']);
      await sink.waitForLine((l) => (l === 'listening' ? true : undefined), 10_000);
      const blast = a.exec('node', [probe, 'blast', '10.77.0.2', '7001', '16000000', '2']);
      const line = await sink.waitForLine((l) => (l.startsWith('{') ? l : undefined), 15_000);
      await blast;
      return JSON.parse(line) as { bytes: number; seconds: number };
    });
    // UDP payload rate; the wire counts Ethernet+IP+UDP headers too (1242 bytes per 1200 payload).
    const rate = ((result.bytes * 1242) / 1200 / result.seconds) * 8;
    console.log(`wire rate ${(rate / 1e6).toFixed(2)} Mbit/s (configured 8)`);
    expect(rate).toBeGreaterThan(8e6 * 0.85);
    expect(rate).toBeLessThan(8e6 * 1.1);
  }, 60_000);
});

if (!usable)
  console.warn(`skipping lab/realnet link tests: ${support.ok ? 'nft, tc or gcc missing' : support.reason}`);
