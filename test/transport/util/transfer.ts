import type { Duplex } from 'node:stream';
import type { Connection } from '../../../transport/index.ts';
import type { Pair } from './pair.ts';

export function readAll(stream: Duplex): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    stream.on('error', reject);
  });
}

/** Client connects and uploads `data` to the server on one stream; resolves with what the server read. */
export async function streamTransfer(pair: Pair, data: Uint8Array, limitMs = 600_000) {
  const received = new Promise<Uint8Array>((resolve, reject) => {
    pair.server.onConnection((c) => {
      c.onStream((s) => {
        readAll(s).then(resolve, reject);
        s.end();
      });
    });
  });
  const conn = await pair.net.run(
    pair.client.connect(pair.server.localAddress(), pair.server.publicKey),
    limitMs,
  );
  const start = pair.net.clock.now();
  const s = conn.openStream();
  s.on('error', () => {});
  s.resume();
  const chunk = 64 * 1024;
  const write = async () => {
    for (let i = 0; i < data.length; i += chunk) {
      if (!s.write(Buffer.from(data.buffer, data.byteOffset + i, Math.min(chunk, data.length - i)))) {
        await new Promise((r) => s.once('drain', r));
      }
    }
    s.end();
  };
  void write();
  const got = await pair.net.run(received, limitMs);
  return { got, conn, elapsedMs: pair.net.clock.now() - start };
}

/** Server accepts; client sends `data` as blocks of `blockSize`; server reassembles by offset. */
export async function blockTransfer(pair: Pair, data: Uint8Array, blockSize = 64 * 1024, limitMs = 600_000) {
  const out = new Uint8Array(data.length);
  let bytes = 0;
  let duplicates = 0;
  const seen = new Set<number>();
  const received = new Promise<void>((resolve) => {
    pair.server.onConnection((c) => {
      c.onBlock((b) => {
        if (b.object !== 1) return;
        out.set(b.data, b.offset);
        if (seen.has(b.offset)) duplicates++;
        seen.add(b.offset);
        bytes += b.data.length;
        if (bytes >= data.length) resolve();
      });
    });
  });
  const conn: Connection = await pair.net.run(
    pair.client.connect(pair.server.localAddress(), pair.server.publicKey),
    limitMs,
  );
  const start = pair.net.clock.now();
  let offset = 0;
  const pushBlocks = (): void => {
    while (offset < data.length) {
      const length = Math.min(blockSize, data.length - offset);
      if (!conn.sendBlock({ object: 1, offset, data: data.subarray(offset, offset + length) })) return;
      offset += length;
    }
  };
  conn.onDrain(pushBlocks);
  pushBlocks();
  await pair.net.run(received, limitMs);
  return { got: out, conn, duplicates, elapsedMs: pair.net.clock.now() - start };
}
