import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createFrameGuard } from '../../agent/swarm/frame-guard.ts';

const message = (length: number): Uint8Array => {
  const out = new Uint8Array(4 + length);
  new DataView(out.buffer).setUint32(0, length);
  return out;
};
const concat = (parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

describe('frame guard (what a TCP or PZ peer may make us buffer)', () => {
  it('passes a handshake and messages up to the limit however the bytes are split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }),
        (lengths, cuts) => {
          const bytes = concat([new Uint8Array(68), ...lengths.map(message)]);
          const guard = createFrameGuard(300);
          let at = 0;
          let k = 0;
          while (at < bytes.length) {
            const size = cuts[k++ % cuts.length]!;
            expect(guard.feed(bytes.subarray(at, at + size))).toBe(true);
            at += size;
          }
        },
      ),
    );
  });

  it('trips on a length prefix over the limit, even one split across chunks, and stays tripped', () => {
    const guard = createFrameGuard(1024);
    expect(guard.feed(new Uint8Array(68))).toBe(true);
    expect(guard.feed(message(1024))).toBe(true);
    const huge = message(0xfffffff0).subarray(0, 4);
    expect(guard.feed(huge.subarray(0, 2))).toBe(true);
    expect(guard.feed(huge.subarray(2))).toBe(false);
    expect(guard.feed(new Uint8Array(1))).toBe(false);
  });
});
