import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { createEdgeClient } from '../../edge/index.ts';
import { generateKeyPair, openStore } from '../../release/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { createNodeClock, createNodeUdpNetwork } from '../../runtime/node/index.ts';
import { buildTracker, createMemorySwarmStore, createStaticCatalogue } from '../../tracker/index.ts';
import { createEndpoint } from '../../transport/index.ts';
import { publishTestRelease } from './helpers/release.ts';

const MiB = 1024 * 1024;
const root = join(import.meta.dirname, '..', '..');

/** Starts `swarmlane edge` and resolves with its startup line (address and key). */
function startEdge(
  args: string[],
): Promise<{ child: ChildProcess; port: number; key: string; metrics: string; stderr: () => string }> {
  const child = spawn(process.execPath, [join(root, 'bin', 'swarmlane.mjs'), 'edge', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
    });
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /udp 127\.0\.0\.1:(\d+) key (\S+) metrics (\S+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), key: m[2]!, metrics: m[3]!, stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`edge exited ${code}: ${err}`)));
  });
}

describe('a real `swarmlane edge` process on 127.0.0.1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-proc-'));
  let child: ChildProcess | undefined;
  let tracker: FastifyInstance | undefined;
  afterAll(async () => {
    child?.kill('SIGTERM');
    await tracker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a 64 MB release byte-exact to an edge client', async () => {
    const storeDir = join(dir, 'store');
    mkdirSync(storeDir);
    const store = openStore(pathToFileURL(storeDir).href);
    const release = await publishTestRelease(store, { size: 64 * MiB, pieceLength: MiB, seed: 64 });
    const trackerClock = createNodeClock();
    tracker = buildTracker(
      {},
      {
        clock: trackerClock,
        random: createSeededRandom(7),
        logger: createSilentLogger(),
        swarmStore: createMemorySwarmStore({ random: createSeededRandom(8), now: () => trackerClock.now() }),
        catalogue: createStaticCatalogue([]),
      },
    ).app;
    const trackerUrl = await tracker.listen({ host: '127.0.0.1', port: 0 });
    const pair = generateKeyPair('x25519');
    writeFileSync(join(dir, 'edge.key'), pair.privatePem);
    const started = await startEdge([
      '--listen',
      '127.0.0.1:0',
      '--key',
      join(dir, 'edge.key'),
      '--store',
      pathToFileURL(storeDir).href,
      '--cache-dir',
      join(dir, 'cache'),
      '--cache-bytes',
      '256M',
      '--metrics',
      '127.0.0.1:0',
      '--id',
      'edge-proc',
      '--congestion',
      'newreno',
      '--tracker',
      trackerUrl,
    ]);
    child = started.child;
    // The edge registered itself with the tracker: devices can find it there, key and all.
    let listed: Array<{ id: string; publicKey: string; address: { port: number } }> = [];
    for (let i = 0; i < 100 && listed.length === 0; i++) {
      listed = ((await (await fetch(`${trackerUrl}/v1/edges`)).json()) as { edges: typeof listed }).edges;
      if (listed.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(listed, started.stderr()).toMatchObject([
      { id: 'edge-proc', publicKey: started.key, address: { port: started.port } },
    ]);
    const expectedKey = Buffer.from(
      (createPrivateKey(pair.privatePem).export({ format: 'jwk' }) as { x: string }).x,
      'base64url',
    ).toString('base64');
    expect(started.key).toBe(expectedKey);

    const clock = createNodeClock();
    const logger = createSilentLogger();
    const endpoint = createEndpoint(
      { staticPrivateKey: createSeededRandom(5).bytes(32) },
      {
        socket: await createNodeUdpNetwork().bind({ host: '127.0.0.1' }),
        clock,
        random: createSeededRandom(6),
        logger,
      },
    );
    try {
      const client = createEdgeClient({ requestTimeoutMs: 60_000 }, { endpoint, clock, logger });
      await client.discoverEdges([
        { address: { host: '127.0.0.1', port: started.port }, publicKey: started.key },
      ]);
      const pieces: Uint8Array[] = new Array(release.manifest.pieces.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < pieces.length) {
            const index = next++;
            pieces[index] = await client.fetchPiece(release.manifest, index);
          }
        }),
      );
      const hash = createHash('sha256');
      for (const p of pieces) hash.update(p);
      expect(hash.digest('hex')).toBe(release.manifest.sha256);
      const metrics = await (await fetch(started.metrics)).text();
      expect(metrics).toMatch(/swarmlane_edge_requests_total 64/);
      expect(metrics).toMatch(/swarmlane_edge_origin_reads_total 64/);
      client.close();
    } finally {
      await endpoint.close();
    }
  }, 120_000);
});
