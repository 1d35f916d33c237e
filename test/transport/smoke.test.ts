import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createPair, equalBytes, patternBytes } from './util/pair.ts';

function readAll(stream: Duplex): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    stream.on('error', reject);
  });
}

describe('smoke', () => {
  it('handshake + stream + blocks', async () => {
    const pair = await createPair({
      serverLink: { delayMs: 10 },
      clientLink: { delayMs: 10 },
      server: { onInit: (p) => new Uint8Array([p.length]) },
    });
    const data = patternBytes(300_000);
    const received = new Promise<Uint8Array>((resolve) => {
      pair.server.onConnection((c) => {
        c.onStream((s) => {
          readAll(s).then(resolve);
          s.end();
        });
      });
    });
    const conn = await pair.net.run(
      pair.client.connect(pair.server.localAddress(), pair.server.publicKey, {
        initPayload: new Uint8Array(5),
      }),
    );
    expect(conn.initReply).toEqual(new Uint8Array([5]));
    const s = conn.openStream();
    s.end(Buffer.from(data));
    s.resume();
    const got = await pair.net.run(received);
    expect(equalBytes(got, data)).toBe(true);
  });
});
