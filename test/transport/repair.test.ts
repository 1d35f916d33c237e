import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeGroup, encodeRepair, MAX_GROUP_SPAN, PlaintextRing } from '../../transport/fec.ts';
import { decodeFrames, type Frame, frameLength, writeFrame } from '../../transport/frames.ts';
import type { Connection } from '../../transport/index.ts';
import { Writer } from '../../transport/varint.ts';
import { createPair, equalBytes, patternBytes } from './util/pair.ts';
import { blockTransfer } from './util/transfer.ts';

const SYMBOL = 64;

/** A group of `span` sources of random lengths up to SYMBOL, a set lost, and which repairs arrive. */
const groupArb = fc.integer({ min: 1, max: 40 }).chain((span) =>
  fc.record({
    sources: fc.array(fc.uint8Array({ minLength: 0, maxLength: SYMBOL }), {
      minLength: span,
      maxLength: span,
    }),
    lost: fc.uniqueArray(fc.integer({ min: 0, max: span - 1 }), { maxLength: span }),
    repairIndices: fc.uniqueArray(fc.integer({ min: 0, max: MAX_GROUP_SPAN - 1 }), { maxLength: 48 }),
  }),
);

describe('tail repair code (Cauchy over GF(2^8))', () => {
  it('any m repair symbols rebuild any m lost sources byte-exact; fewer rebuild nothing', () => {
    fc.assert(
      fc.property(groupArb, ({ sources, lost, repairIndices }) => {
        const repairs = new Map(repairIndices.map((r) => [r, encodeRepair(sources, r, SYMBOL)] as const));
        const received = sources.map((s, i) => (lost.includes(i) ? undefined : s));
        const out = decodeGroup(received, repairs);
        if (repairs.size < lost.length) {
          expect(out).toBeUndefined();
          return;
        }
        expect(out).toBeDefined();
        expect([...out!.keys()].sort((a, b) => a - b)).toEqual([...lost].sort((a, b) => a - b));
        for (const [i, symbol] of out!) {
          const padded = new Uint8Array(SYMBOL);
          padded.set(sources[i]!);
          expect(equalBytes(symbol, padded)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the REPAIR frame round-trips as the last frame of a packet', () => {
    const symbol = patternBytes(1000, 3);
    const frames: Frame[] = [
      { type: 'ping' },
      { type: 'repair', firstPn: 4_000_000_000, span: 128, index: 127, symbol },
    ];
    const buffer = new Uint8Array(2048);
    const w = new Writer(buffer);
    for (const f of frames) writeFrame(w, f);
    expect(w.offset).toBe(frameLength(frames[0]!) + frameLength(frames[1]!));
    const decoded = decodeFrames(buffer.subarray(0, w.offset));
    expect(decoded[1]).toMatchObject({ type: 'repair', firstPn: 4_000_000_000, span: 128, index: 127 });
    expect(equalBytes((decoded[1] as { symbol: Uint8Array }).symbol, symbol)).toBe(true);
  });

  it('the plaintext ring returns what it stored until the slot is reused', () => {
    const ring = new PlaintextRing(4, 8);
    ring.store(1, new Uint8Array([1, 2, 3]));
    ring.store(2, new Uint8Array(9)); // longer than a slot: not kept
    expect(Array.from(ring.get(1)!)).toEqual([1, 2, 3]);
    expect(ring.get(2)).toBeUndefined();
    ring.store(5, new Uint8Array([9]));
    expect(ring.get(1)).toBeUndefined();
    expect(Array.from(ring.get(5)!)).toEqual([9]);
  });

  it('the plaintext ring grows by powers of two up to its limit and keeps what it held', () => {
    const ring = new PlaintextRing(2, 8, 8);
    ring.store(10, new Uint8Array([1]));
    ring.store(11, new Uint8Array([2]));
    ring.reserve(5);
    expect(ring.capacity).toBe(8);
    expect(Array.from(ring.get(10)!)).toEqual([1]);
    expect(Array.from(ring.get(11)!)).toEqual([2]);
    ring.reserve(1000);
    expect(ring.capacity).toBe(8);
  });
});

function countersOf(conn: Connection): { repairsSent: number; packetsRecovered: number } {
  return (conn as unknown as { core: { counters: { repairsSent: number; packetsRecovered: number } } }).core
    .counters;
}

describe('tail repair on a lossy long path', () => {
  const link = { delayMs: 100, rateBps: 20e6, loss: 0.03, queueBytes: 512 * 1024 };

  async function upload(tailRepair: boolean) {
    const pair = await createPair({
      seed: 91,
      clientLink: link,
      serverLink: { ...link, rateBps: undefined },
      client: { tailRepair },
    });
    let receiver: Connection | undefined;
    pair.server.onConnection((c) => {
      receiver = c;
    });
    const data = patternBytes(1024 * 1024, 11);
    const result = await blockTransfer(pair, data, 64 * 1024);
    return {
      ...result,
      data,
      repairsSent: countersOf(result.conn).repairsSent,
      recovered: countersOf(receiver!).packetsRecovered,
    };
  }

  it('rebuilds last-flight losses from repair symbols, byte-exact and sooner than without', async () => {
    const withRepair = await upload(true);
    expect(equalBytes(withRepair.got, withRepair.data)).toBe(true);
    expect(withRepair.duplicates).toBe(0);
    expect(withRepair.repairsSent).toBeGreaterThan(0);
    expect(withRepair.recovered).toBeGreaterThan(0);
    const without = await upload(false);
    expect(equalBytes(without.got, without.data)).toBe(true);
    expect(without.repairsSent).toBe(0);
    expect(without.recovered).toBe(0);
    expect(withRepair.elapsedMs).toBeLessThan(without.elapsedMs);
  });
});
