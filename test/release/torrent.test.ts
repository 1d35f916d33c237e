import { createHash } from 'node:crypto';
import bencode from 'bencode';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTorrent, hashPieces, parseTorrent } from '../../release/index.ts';

const P = 16384;
const data = new Uint8Array(2 * P + 5).map((_, i) => (i * 31) & 0xff);
const digests = hashPieces(data, P);
const text = (v: Uint8Array): string => new TextDecoder().decode(v);

/** Index just past the bencoded value starting at `i` (written here so the test does not trust bencode). */
function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === 0x69) return b.indexOf(0x65, i) + 1; // i<int>e
  if (c === 0x6c || c === 0x64) {
    let j = i + 1; // l...e / d...e
    while (b[j] !== 0x65) j = skipValue(b, j);
    return j + 1;
  }
  const colon = b.indexOf(0x3a, i); // <len>:<bytes>
  return colon + 1 + Number(b.subarray(i, colon).toString('ascii'));
}

describe('torrent', () => {
  it('is BitTorrent v1 whose infohash is the SHA-1 of the bencoded info dict', () => {
    const t = createTorrent({
      name: 'fw.bin',
      length: data.length,
      pieceLength: P,
      sha1Pieces: digests.sha1Pieces,
      announce: 'http://tracker.example:8000/announce',
      urlList: ['http://cdn.example/releases/p/1.0.0/fw.bin'],
    });
    const meta = bencode.decode(t.bytes);
    expect(meta.info.length).toBe(data.length);
    expect(text(meta.info.name)).toBe('fw.bin');
    expect(meta.info['piece length']).toBe(P);
    expect(text(meta.announce)).toBe('http://tracker.example:8000/announce');
    expect(meta['url-list'].map(text)).toEqual(['http://cdn.example/releases/p/1.0.0/fw.bin']);
    // Infohash over the exact info bytes inside the file (not a re-encoding).
    const raw = Buffer.from(t.bytes);
    const start = raw.indexOf('4:infod') + 6;
    const infoBytes = raw.subarray(start, skipValue(raw, start));
    expect(createHash('sha1').update(infoBytes).digest('hex')).toBe(t.infoHash);
    // Pieces are the SHA-1 of each piece of the file.
    for (let i = 0; i < 3; i++) {
      const piece = data.subarray(i * P, Math.min((i + 1) * P, data.length));
      expect(Buffer.from(meta.info.pieces.subarray(i * 20, i * 20 + 20))).toEqual(
        createHash('sha1').update(piece).digest(),
      );
    }
  });

  it('parses back what it wrote, and omits announce / url-list when not given', () => {
    const t = createTorrent({
      name: 'fw.bin',
      length: data.length,
      pieceLength: P,
      sha1Pieces: digests.sha1Pieces,
    });
    const parsed = parseTorrent(t.bytes);
    expect(parsed).toMatchObject({
      infoHash: t.infoHash,
      name: 'fw.bin',
      length: data.length,
      pieceLength: P,
    });
    expect(parsed.pieces).toHaveLength(3);
    expect(parsed.announce).toBeUndefined();
    expect(parsed.urlList).toBeUndefined();
    expect(() => parseTorrent(new TextEncoder().encode('garbage'))).toThrow(/bencode|torrent/);
  });

  it('reads a url-list given as a single string (BEP 19 allows both)', () => {
    const info = { length: 1, name: 'a', 'piece length': P, pieces: new Uint8Array(20) };
    const parsed = parseTorrent(bencode.encode({ info, 'url-list': 'http://x/a' }));
    expect(parsed.urlList).toEqual(['http://x/a']);
  });

  it('round-trips any geometry through bencode (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.integer({ min: 14, max: 24 }),
        fc.option(fc.webUrl(), { nil: undefined }),
        (name, length, log2, seed) => {
          const pieceLength = 2 ** log2;
          const count = Math.ceil(length / pieceLength);
          if (count > 5000) return;
          const sha1Pieces = new Uint8Array(count * 20).map((_, i) => (i * 13 + length) & 0xff);
          const t = createTorrent({
            name,
            length,
            pieceLength,
            sha1Pieces,
            ...(seed ? { urlList: [seed] } : {}),
          });
          const parsed = parseTorrent(t.bytes);
          expect(parsed).toMatchObject({ infoHash: t.infoHash, name, length, pieceLength });
          expect(Buffer.concat(parsed.pieces)).toEqual(Buffer.from(sha1Pieces));
          expect(parsed.urlList).toEqual(seed ? [seed] : undefined);
        },
      ),
      { seed: 3, numRuns: 100 },
    );
  });
});
