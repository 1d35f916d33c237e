import { describe, expect, it } from 'vitest';
import { createPair } from './util/pair.ts';

const link = { delayMs: 30, rateBps: 20e6 };

describe('a stream whose connection the peer closes', () => {
  // A peer that refuses a session (its swarm is full) closes it with NO_ERROR. The dialer's stream used
  // to stay half-open with no 'close', so the dialer kept a dead peer in its peer set for good.
  it.each([
    ['cleanly (NO_ERROR)', 0],
    ['with an error code', 7],
  ])('closes within one round trip when the peer closes %s', async (_label, code) => {
    const pair = await createPair({ serverLink: link, clientLink: link });
    pair.server.onConnection((connection) => {
      connection.onStream((stream) => {
        stream.on('data', () => {});
        stream.on('error', () => {});
        connection.close(code, 'not accepted');
      });
    });
    const connection = await pair.net.run(
      pair.client.connect(pair.server.localAddress(), pair.server.publicKey),
    );
    const start = pair.net.clock.now();
    const stream = connection.openStream();
    let closedAfter: number | undefined;
    stream.on('data', () => {});
    stream.on('error', () => {});
    stream.on('close', () => {
      closedAfter = pair.net.clock.now() - start;
    });
    stream.write(new Uint8Array(68));
    await pair.net.runFor(5000);
    expect(closedAfter).toBeDefined();
    // One round trip (2 x 30 ms) plus serialisation, not an idle timeout.
    expect(closedAfter!).toBeLessThan(200);
  });
});
