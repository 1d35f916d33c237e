import type { Duplex } from 'node:stream';
import Wire from 'bittorrent-protocol';
import { describe, expect, it } from 'vitest';
import { createPair, equalBytes, patternBytes } from './util/pair.ts';

/** The members of bittorrent-protocol 5's Wire this test uses (its published typings are for v3). */
interface WireLike {
  pipe(destination: Duplex): Duplex;
  handshake(infoHash: string, peerId: string): void;
  bitfield(bytes: Uint8Array): void;
  unchoke(): void;
  interested(): void;
  request(
    index: number,
    offset: number,
    length: number,
    cb: (err: Error | null, block?: Uint8Array) => void,
  ): void;
  on(event: string, handler: (...args: never[]) => void): void;
}

const newWire = (): WireLike => new Wire() as WireLike;
const INFO_HASH = 'aa'.repeat(20);
const PIECE = patternBytes(256 * 1024, 21);

describe('bittorrent-protocol Wire over a PZ stream', () => {
  it('exchanges handshake, bitfield and a whole piece in 16 KiB requests, unchanged', async () => {
    const pair = await createPair({
      serverLink: { delayMs: 30, rateBps: 20e6, loss: 0.02 },
      clientLink: { delayMs: 30, loss: 0.02 },
    });
    // Seeder: the server side answers requests from its piece.
    pair.server.onConnection((c) => {
      c.onStream((stream) => {
        const wire = newWire();
        stream.pipe(wire as unknown as Duplex).pipe(stream);
        wire.on('handshake', () => {
          wire.handshake(INFO_HASH, 'bb'.repeat(20));
          wire.bitfield(new Uint8Array([0x80]));
          wire.unchoke();
        });
        wire.on('request', ((
          index: number,
          offset: number,
          length: number,
          respond: (e: Error | null, b?: Uint8Array) => void,
        ) => {
          respond(null, index === 0 ? PIECE.subarray(offset, offset + length) : undefined);
        }) as (...args: never[]) => void);
      });
    });
    const conn = await pair.net.run(pair.client.connect(pair.server.localAddress(), pair.server.publicKey));
    const stream = conn.openStream();
    const wire = newWire();
    stream.pipe(wire as unknown as Duplex).pipe(stream);
    const piece = new Uint8Array(PIECE.length);
    const done = new Promise<void>((resolve, reject) => {
      wire.on('unchoke', () => {
        let outstanding = 0;
        for (let offset = 0; offset < PIECE.length; offset += 16384) {
          outstanding++;
          wire.request(0, offset, 16384, (err, block) => {
            if (err || !block) return reject(err ?? new Error('empty block'));
            piece.set(block, offset);
            if (--outstanding === 0) resolve();
          });
        }
      });
    });
    wire.handshake(INFO_HASH, 'cc'.repeat(20));
    wire.interested();
    await pair.net.run(done);
    expect(equalBytes(piece, PIECE)).toBe(true);
  });
});
