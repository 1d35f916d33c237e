import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TcpConnection } from '../../runtime/index.ts';
import { createNodeTcpNetwork } from '../../runtime/node/index.ts';

const readBytes = (stream: Duplex, count: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= count) {
        stream.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
  });

describe('node TCP adapter on 127.0.0.1', () => {
  it('accepts, connects and carries bytes both ways with the peer addresses', async () => {
    const tcp = createNodeTcpNetwork();
    const server = await tcp.listen({ host: '127.0.0.1', port: 0 });
    const local = server.localAddress();
    expect(local.host).toBe('127.0.0.1');
    expect(local.port).toBeGreaterThan(0);
    const accepted = new Promise<TcpConnection>((resolve) => server.onConnection(resolve));
    const client = await tcp.connect(local);
    expect(client.remote).toEqual(local);
    const inbound = await accepted;
    expect(inbound.remote.host).toBe('127.0.0.1');

    const big = Buffer.alloc(1_000_000, 7);
    const atServer = readBytes(inbound.stream, big.length);
    client.stream.write(big);
    expect((await atServer).equals(big)).toBe(true);
    const atClient = readBytes(client.stream, 5);
    inbound.stream.write('hello');
    expect((await atClient).toString()).toBe('hello');

    client.stream.destroy();
    await new Promise((resolve) => inbound.stream.once('close', resolve));
    await server.close();
    await expect(tcp.connect(local)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('closes connections no handler takes, and an aborted connect rejects', async () => {
    const tcp = createNodeTcpNetwork();
    const server = await tcp.listen({ host: '127.0.0.1' });
    const client = await tcp.connect(server.localAddress());
    await new Promise((resolve) => client.stream.once('close', resolve));
    await server.close();

    const controller = new AbortController();
    controller.abort(new Error('gave up'));
    await expect(tcp.connect({ host: '127.0.0.1', port: 9 }, { signal: controller.signal })).rejects.toThrow(
      'gave up',
    );
  });

  it('refuses a port that is taken', async () => {
    const tcp = createNodeTcpNetwork();
    const server = await tcp.listen({ host: '127.0.0.1' });
    await expect(tcp.listen({ host: '127.0.0.1', port: server.localAddress().port })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    await server.close();
  });
});
