import { describe, expect, it } from 'vitest';
import type { Connection } from '../../transport/index.ts';
import { createPair, equalBytes, patternBytes } from './util/pair.ts';
import { readAll } from './util/transfer.ts';

interface CoreView {
  core: { counters: { migrations: number; packetsSent: number; bytesSent: number } };
}

describe('anti-amplification on a migrated path', () => {
  it('a path that cannot answer for a while does not cost the session its queued data or ACKs', async () => {
    // The client moves mid-download; for 3 s after that the server's datagrams to the new address
    // vanish (a one-way path). The server is then limited to 3x what it hears from the client: its
    // polls must wait for budget, not build packets and put their frames back (which cut the
    // retransmission queue into ever smaller frames: one cut per poll).
    const moveAt = 300;
    const blackoutMs = 3_000;
    let moved = false;
    let blackoutUntil = Number.POSITIVE_INFINITY;
    let sentAfter = 0;
    let bytesAfter = 0;
    const pair = await createPair({
      serverLink: {
        delayMs: 20,
        rateBps: 20e6,
        intercept: (bytes, to) => {
          if (to.host !== '10.0.9.9') return [bytes];
          if (pair.net.clock.now() < blackoutUntil) return [];
          sentAfter++;
          bytesAfter += bytes.length;
          return [bytes];
        },
      },
      clientLink: { delayMs: 20, rateBps: 20e6 },
    });
    const data = patternBytes(3 * 1024 * 1024, 5);
    let serverSide: Connection | undefined;
    pair.server.onConnection((c) => {
      serverSide = c;
      const s = c.openStream();
      s.on('error', () => {});
      s.end(Buffer.from(data));
    });
    const start = pair.net.clock.now();
    const conn = await pair.net.run(pair.client.connect(pair.server.localAddress(), pair.server.publicKey));
    const got = new Promise<Uint8Array>((resolve, reject) => {
      conn.onStream((s) => readAll(s).then(resolve, reject));
    });
    const mover = (async () => {
      await pair.net.runFor(moveAt - (pair.net.clock.now() - start));
      blackoutUntil = pair.net.clock.now() + blackoutMs;
      pair.clientHost.changeIp('10.0.9.9');
      moved = true;
    })();
    const bytes = await pair.net.run(got, 120_000);
    await mover;
    expect(moved).toBe(true);
    expect(equalBytes(bytes, data)).toBe(true);
    const core = (serverSide as unknown as CoreView).core;
    expect(core.counters.migrations).toBe(1);
    // The session survived (it used to die of idle timeout, its ACKs built into refused packets) and
    // what was left after the blackout went in full packets, not in fragments.
    expect(sentAfter).toBeGreaterThan(100);
    expect(bytesAfter / sentAfter).toBeGreaterThan(1000);
  });
});
