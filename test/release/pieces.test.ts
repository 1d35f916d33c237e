import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  hashPieces,
  isValidPieceSize,
  PieceHasher,
  pieceCount,
  pieceRange,
  verifyPiece,
} from '../../release/index.ts';

const P = 16384;
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sha1 = (b: Uint8Array): Buffer => createHash('sha1').update(b).digest();
function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function expectDigestsOf(data: Uint8Array, pieceLength: number): void {
  const d = hashPieces(data, pieceLength);
  const count = Math.ceil(data.length / pieceLength);
  expect(d.size).toBe(data.length);
  expect(d.sha256).toBe(sha256(data));
  expect(d.pieces).toHaveLength(count);
  expect(d.sha1Pieces).toHaveLength(count * 20);
  for (let i = 0; i < count; i++) {
    const piece = data.subarray(i * pieceLength, Math.min((i + 1) * pieceLength, data.length));
    expect(d.pieces[i]).toBe(sha256(piece));
    expect(Buffer.from(d.sha1Pieces.subarray(i * 20, i * 20 + 20))).toEqual(sha1(piece));
  }
}

describe('piece hashing', () => {
  it('a 1-byte file is one 1-byte piece', () => expectDigestsOf(bytes(1), P));
  it('an exact multiple of the piece size has no empty trailing piece', () =>
    expectDigestsOf(bytes(3 * P), P));
  it('the last piece may be short', () => expectDigestsOf(bytes(3 * P + 123), P));

  it('digests do not depend on how the stream is chunked', () => {
    const data = bytes(5 * P + 777, 9);
    const whole = hashPieces(data, P);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3 * P }), { minLength: 1, maxLength: 20 }), (sizes) => {
        const hasher = new PieceHasher(P);
        let offset = 0;
        for (let i = 0; offset < data.length; i++) {
          const size = sizes[i % sizes.length]!;
          hasher.update(data.subarray(offset, offset + size));
          offset += size;
        }
        expect(hasher.digest()).toEqual(whole);
      }),
      { seed: 7, numRuns: 50 },
    );
  });

  it('pieceRange and verifyPiece agree with the manifest geometry', () => {
    const data = bytes(2 * P + 10);
    const d = hashPieces(data, P);
    const manifest = { size: data.length, pieceLength: P, pieces: d.pieces };
    expect(pieceCount(data.length, P)).toBe(3);
    expect(pieceRange(manifest, 0)).toEqual({ offset: 0, length: P });
    expect(pieceRange(manifest, 2)).toEqual({ offset: 2 * P, length: 10 });
    expect(() => pieceRange(manifest, 3)).toThrow(RangeError);
    expect(verifyPiece(manifest, 2, data.subarray(2 * P))).toBe(true);
    const corrupt = data.slice(P, 2 * P);
    corrupt[100]! ^= 1;
    expect(verifyPiece(manifest, 1, corrupt)).toBe(false);
    expect(verifyPiece(manifest, 2, data.subarray(2 * P, 2 * P + 9))).toBe(false);
    expect(verifyPiece(manifest, 5, data.subarray(0, P))).toBe(false);
  });

  it('piece sizes are powers of two from 16 KiB to 16 MiB', () => {
    expect([16384, 262144, 16777216].every(isValidPieceSize)).toBe(true);
    expect([8192, 16383, 300000, 33554432, 0, -16384, 16384.5].some(isValidPieceSize)).toBe(false);
  });
});
