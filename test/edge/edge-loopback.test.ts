import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEdgeClient,
  createEdgeServer,
  createManifestRegistry,
  createPieceCache,
  createPieceProvider,
  createStoreOrigin,
  type EdgeServer,
  encodeMessage,
} from '../../edge/index.ts';
import { createStunClient } from '../../nat/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { createNodeClock, createNodeUdpNetwork } from '../../runtime/node/index.ts';
import { createEndpoint, type Endpoint } from '../../transport/index.ts';
import { createMemoryStore } from './helpers/memory-store.ts';
import { publishTestRelease } from './helpers/release.ts';

const PIECE = 256 * 1024;
const logger = createSilentLogger();

describe('edge server on real loopback sockets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-lo-'));
  const clock = createNodeClock();
  const udp = createNodeUdpNetwork();
  const store = createMemoryStore();
  let release: Awaited<ReturnType<typeof publishTestRelease>>;
  let server: EdgeServer;
  let device: Endpoint;

  beforeAll(async () => {
    release = await publishTestRelease(store, { size: 8 * PIECE + 777, pieceLength: PIECE });
    const origin = createStoreOrigin(store);
    const cache = createPieceCache({ dir, capacityBytes: 64 * PIECE });
    await cache.open();
    const pieces = createPieceProvider(
      {},
      { manifests: createManifestRegistry({}, { origin, clock }), cache, origin },
    );
    server = createEdgeServer(
      {
        id: 'edge-lo',
        region: 'lo',
        staticPrivateKey: createSeededRandom(11).bytes(32),
      },
      {
        socket: await udp.bind({ host: '127.0.0.1' }),
        clock,
        random: createSeededRandom(12),
        logger,
        pieces,
      },
    );
    device = createEndpoint(
      { staticPrivateKey: createSeededRandom(13).bytes(32) },
      { socket: await udp.bind({ host: '127.0.0.1' }), clock, random: createSeededRandom(14), logger },
    );
  });
  afterAll(async () => {
    await device?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('discovers the edge and fetches every piece verified', async () => {
    const client = createEdgeClient({ region: 'lo' }, { endpoint: device, clock, logger });
    const session = await client.discoverEdges([{ address: server.address(), publicKey: server.publicKey }]);
    expect(session.id).toBe('edge-lo');
    expect(session.reply.region).toBe('lo');
    const pieces = await Promise.all(
      release.manifest.pieces.map((_, i) => client.fetchPiece(release.manifest, i)),
    );
    const joined = Buffer.concat(pieces.map((p) => Buffer.from(p)));
    expect(Buffer.compare(joined, Buffer.from(release.data))).toBe(0);
    expect(server.stats().requests).toBe(9);
    client.close();
  });

  it('answers unknown releases and out-of-range pieces with error frames and keeps serving', async () => {
    const client = createEdgeClient({}, { endpoint: device, clock, logger });
    await client.discoverEdges([
      { address: server.address(), publicKey: Buffer.from(server.publicKey).toString('base64') },
    ]);
    const bogus = { ...release.manifest, version: '9.9.9' };
    await expect(client.fetchPiece(bogus, 0)).rejects.toMatchObject({ code: 'UNKNOWN_RELEASE' });
    const longer = {
      ...release.manifest,
      pieces: [...release.manifest.pieces, 'ab'.repeat(32)],
      size: release.manifest.size + PIECE,
    };
    await expect(client.fetchPiece(longer, 9)).rejects.toMatchObject({ code: 'PIECE_OUT_OF_RANGE' });
    // A raw garbage frame on a fresh stream closes that stream only.
    const raw = client.session()!.connection.openStream();
    raw.write(new Uint8Array([0, 0, 0, 3, 0x7f, 1, 2]));
    raw.write(encodeMessage({ type: 'request', id: 1, release: 'x', piece: 0, offset: 0, length: 0 }));
    const piece = await client.fetchPiece(release.manifest, 3);
    expect(piece.length).toBe(PIECE);
    expect(server.stats().requestsFailed).toMatchObject({ UNKNOWN_RELEASE: 1, PIECE_OUT_OF_RANGE: 1 });
    client.close();
  });

  it('serves STUN on its transport socket', async () => {
    const socket = await udp.bind({ host: '127.0.0.1' });
    const stun = createStunClient({}, { channel: socket, clock, random: createSeededRandom(3) });
    try {
      const result = await stun.binding(server.address());
      expect(result.reflexive).toEqual({ host: '127.0.0.1', port: socket.localAddress().port });
      expect(server.stats().stunAnswered).toBe(1);
    } finally {
      stun.close();
      await socket.close();
    }
  });
});
