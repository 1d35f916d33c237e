import { describe, expect, it } from 'vitest';
import { createPair, equalBytes, patternBytes } from './util/pair.ts';
import { blockTransfer, streamTransfer } from './util/transfer.ts';

// Byte-exact transfers over the virtual network, with random loss in both directions, reordering
// (per-datagram jitter) and duplication. Virtual time, so a 64 MB transfer costs CPU, not waiting.
const MB = 1024 * 1024;
const lossy = (loss: number) => ({
  delayMs: 10,
  rateBps: 50e6,
  loss,
  jitterMs: loss > 0 ? 1 : 0,
  duplicate: loss > 0 ? 0.01 : 0,
});

describe('transfers under loss, reordering and duplication', () => {
  for (const loss of [0, 0.02, 0.1, 0.3]) {
    it(`stream: 1 MB at ${loss * 100}% loss arrives byte-exact`, async () => {
      const pair = await createPair({
        seed: 10 + loss * 100,
        serverLink: lossy(loss),
        clientLink: lossy(loss),
      });
      const data = patternBytes(MB, 3);
      const { got, conn } = await streamTransfer(pair, data);
      expect(equalBytes(got, data)).toBe(true);
      if (loss >= 0.1) expect(conn.stats().packetsLost).toBeGreaterThan(0);
    });

    it(`blocks: 1 MB at ${loss * 100}% loss arrive byte-exact, each block once`, async () => {
      const pair = await createPair({
        seed: 20 + loss * 100,
        serverLink: lossy(loss),
        clientLink: lossy(loss),
      });
      const data = patternBytes(MB, 4);
      const { got, duplicates } = await blockTransfer(pair, data, 16 * 1024);
      expect(equalBytes(got, data)).toBe(true);
      expect(duplicates).toBe(0);
    });
  }

  it('stream: 8 MB at 10% loss arrives byte-exact', async () => {
    const pair = await createPair({ seed: 31, serverLink: lossy(0.1), clientLink: lossy(0.1) });
    const data = patternBytes(8 * MB, 5);
    const { got } = await streamTransfer(pair, data);
    expect(equalBytes(got, data)).toBe(true);
  });

  it('blocks: 64 MB at 2% loss arrive byte-exact', async () => {
    const link = {
      delayMs: 10,
      rateBps: 200e6,
      loss: 0.02,
      jitterMs: 0.2,
      duplicate: 0.005,
      queueBytes: 1024 * 1024,
    };
    const pair = await createPair({ seed: 32, serverLink: link, clientLink: link });
    const data = patternBytes(64 * MB, 6);
    const { got, duplicates } = await blockTransfer(pair, data, 256 * 1024);
    expect(duplicates).toBe(0);
    expect(equalBytes(got, data)).toBe(true);
  }, 120_000);
});
