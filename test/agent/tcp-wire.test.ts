import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { parseHandshake } from '../../agent/net/tcp-handshake.ts';
import { sourceClassOfHost, startTcpWire, type TcpWire } from '../../agent/net/tcp-wire.ts';
import type { Swarm } from '../../agent/swarm/swarm.ts';
import { createSilentLogger, type TcpConnection } from '../../runtime/index.ts';
import { createNodeTcpNetwork } from '../../runtime/node/index.ts';
import { ManualClock } from './helpers.ts';

const INFO_HASH = 'ab'.repeat(20);
const OUR_PEER_ID = 'cd'.repeat(20);

function handshake(infoHash: string, peerId: string): Buffer {
  return Buffer.concat([
    Buffer.from([19]),
    Buffer.from('BitTorrent protocol'),
    Buffer.alloc(8),
    Buffer.from(infoHash, 'hex'),
    Buffer.from(peerId, 'hex'),
  ]);
}

/** The swarm's side of the contract: records what the wire hands over and reads what it replays. */
function recordingSwarm(): Swarm & {
  added: Array<{ id: string; initiator: boolean; first: Promise<Buffer> }>;
} {
  const added: Array<{ id: string; initiator: boolean; first: Promise<Buffer> }> = [];
  return {
    infoHash: INFO_HASH,
    peerId: OUR_PEER_ID,
    added,
    addStream(stream: Duplex, peer) {
      const first = new Promise<Buffer>((resolve) => {
        let got = Buffer.alloc(0);
        stream.on('data', (chunk: Buffer) => {
          got = Buffer.concat([got, chunk]);
          if (got.length >= 72) resolve(got);
        });
      });
      added.push({ id: peer.id, initiator: peer.initiator, first });
      return {} as ReturnType<Swarm['addStream']>;
    },
    peers: () => [],
    hasPeer: () => false,
    uploaded: () => 0,
    rechoke() {},
    close() {},
  };
}

const closedPromise = (stream: Duplex): Promise<void> =>
  new Promise((resolve) => {
    if (stream.destroyed) resolve();
    else stream.once('close', () => resolve());
  });

let wire: TcpWire | undefined;
afterEach(async () => {
  await wire?.close();
  wire = undefined;
});

async function setup(maxConnections = 8) {
  const clock = new ManualClock();
  const tcp = createNodeTcpNetwork();
  wire = await startTcpWire(
    { host: '127.0.0.1', port: 0, maxConnections, handshakeTimeoutMs: 10_000, dialTimeoutMs: 5_000 },
    { tcp, clock, logger: createSilentLogger() },
  );
  const swarm = recordingSwarm();
  wire.register(swarm);
  // Reading keeps the client's side flowing, so it sees the listener's FIN and closes.
  const connect = async (): Promise<TcpConnection> => {
    const c = await tcp.connect(wire!.localAddress());
    c.stream.on('error', () => {});
    c.stream.resume();
    return c;
  };
  return { clock, tcp, swarm, connect, wire };
}

describe('BitTorrent handshake parser', () => {
  it('waits for 68 bytes, refuses anything that is not a plain handshake as early as it can', () => {
    const hs = handshake(INFO_HASH, '11'.repeat(20));
    expect(parseHandshake(hs.subarray(0, 10))).toEqual({ status: 'incomplete' });
    expect(parseHandshake(hs)).toEqual({ status: 'ok', infoHash: INFO_HASH, peerId: '11'.repeat(20) });
    expect(parseHandshake(Buffer.from('GET / HTTP/1.1\r\n')).status).toBe('invalid');
    const almost = Buffer.from(hs);
    almost[5] = 0x78;
    expect(parseHandshake(almost.subarray(0, 8)).status).toBe('invalid');
  });

  it('counts loopback, private and CGN addresses as local, the rest as another ISP', () => {
    expect(sourceClassOfHost('127.0.0.1')).toBe('peer-same-isp');
    expect(sourceClassOfHost('192.168.1.4')).toBe('peer-same-isp');
    expect(sourceClassOfHost('100.72.0.9')).toBe('peer-same-isp');
    expect(sourceClassOfHost('8.8.8.8')).toBe('peer-other-isp');
    expect(sourceClassOfHost('172.32.0.1')).toBe('peer-other-isp');
  });
});

describe('TCP wire listener (real sockets on 127.0.0.1, virtual handshake timer)', () => {
  it('hands a handshake for our swarm over with every byte replayed, even when it arrives in pieces', async () => {
    const { swarm, connect } = await setup();
    const client = await connect();
    const hs = handshake(INFO_HASH, '22'.repeat(20));
    client.stream.write(hs.subarray(0, 30));
    await new Promise((resolve) => setTimeout(resolve, 20));
    client.stream.write(Buffer.concat([hs.subarray(30), Buffer.from([0, 0, 0, 1])]));
    await expect.poll(() => swarm.added.length).toBe(1);
    const peer = swarm.added[0]!;
    expect(peer.id).toBe(`tcp:127.0.0.1:${'22'.repeat(20)}`);
    expect(peer.initiator).toBe(false);
    expect((await peer.first).equals(Buffer.concat([hs, Buffer.from([0, 0, 0, 1])]))).toBe(true);
    client.stream.destroy();
  });

  it('closes garbage, an encrypted (MSE) opening, a wrong info hash and a connection to ourselves', async () => {
    const { swarm, connect, wire } = await setup();
    const openings = [
      Buffer.from('GET /announce HTTP/1.1\r\n\r\n'),
      randomBytes(96),
      handshake('ee'.repeat(20), '33'.repeat(20)),
      handshake(INFO_HASH, OUR_PEER_ID),
    ];
    for (const bytes of openings) {
      if (bytes[0] === 19 && bytes.length === 96) bytes[0] = 20;
      const client = await connect();
      client.stream.on('error', () => {});
      client.stream.write(bytes);
      await closedPromise(client.stream);
    }
    expect(swarm.added).toHaveLength(0);
    await expect.poll(() => wire.connections()).toBe(0);
  });

  it('closes a silent connection once the handshake timeout passes, and bounds the connections', async () => {
    const { swarm, connect, clock, wire } = await setup(2);
    const silent = await connect();
    const second = await connect();
    await expect.poll(() => wire.connections()).toBe(2);
    const third = await connect();
    await closedPromise(third.stream);
    expect(wire.connections()).toBe(2);

    let closed = 0;
    for (const c of [silent, second])
      void closedPromise(c.stream).then(() => {
        closed++;
      });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(0);
    expect(await clock.runUntil(() => closed === 2, 11_000)).toBe(10_000);
    expect(swarm.added).toHaveLength(0);
    await expect.poll(() => wire.connections()).toBe(0);
  });

  it('dials a peer once per address, with our handshake first, and never dials itself', async () => {
    const { tcp, swarm, wire } = await setup();
    const remote = await tcp.listen({ host: '127.0.0.1' });
    const accepted: TcpConnection[] = [];
    remote.onConnection((c) => accepted.push(c));
    const results = await Promise.all([
      wire.dial(INFO_HASH, remote.localAddress()),
      wire.dial(INFO_HASH, remote.localAddress()),
    ]);
    expect(results.sort()).toEqual([false, true]);
    expect(await wire.dial(INFO_HASH, wire.localAddress())).toBe(false);
    expect(swarm.added.map((a) => [a.id, a.initiator])).toEqual([
      [`tcp:127.0.0.1:${remote.localAddress().port}`, true],
    ]);
    await expect.poll(() => accepted.length).toBe(1);
    accepted[0]?.stream.destroy();
    await remote.close();
    expect(await wire.dial('ff'.repeat(20), { host: '127.0.0.1', port: 9 })).toBe(false);
  });
});
