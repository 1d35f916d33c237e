/**
 * Edge and CDN throughput on loopback (npm run bench:edge).
 *
 * 1. Transport baseline: one PZ session pushing blocks as fast as it can (no edge logic), measured in
 *    this run. Then edge egress with 1, 10 and 100 concurrent sessions (warm cache, pipelined piece
 *    requests). Target: 10 sessions >= 0.8 x the single-session transport figure.
 * 2. CDN vs @fastify/static serving the same file from the same directory to parallel curl clients.
 *    Target: CDN >= 0.7 x the static file server.
 *
 * Everything shares this 2-core machine, so clients and servers compete for CPU; both sides of each
 * comparison pay the same overhead. EDGE_BENCH_CC=bbr|newreno picks the congestion controller (default bbr, the transport's default).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import {
  createCdn,
  createEdgeClient,
  createEdgeServer,
  createManifestRegistry,
  createMemoryPieceCache,
  createPieceProvider,
  createStoreOrigin,
} from '../edge/index.ts';
import { openStore } from '../release/index.ts';
import { createSeededRandom, createSilentLogger } from '../runtime/index.ts';
import { createNodeClock, createNodeUdpNetwork } from '../runtime/node/index.ts';
import { publishTestRelease } from '../test/edge/helpers/release.ts';
import { createEndpoint, type Endpoint } from '../transport/index.ts';
import { type Figure, type Target, writeBenchReport } from './lib/report.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const congestion = (process.env.EDGE_BENCH_CC ?? 'bbr') as 'bbr' | 'newreno';
const clock = createNodeClock();
const udp = createNodeUdpNetwork();
const logger = createSilentLogger();
let seed = 100;
const key = () => createSeededRandom(seed++).bytes(32);

async function endpoint(options: { onInit?: () => Uint8Array } = {}): Promise<Endpoint> {
  return createEndpoint(
    { staticPrivateKey: key(), congestion, ...options },
    { socket: await udp.bind({ host: '127.0.0.1' }), clock, random: createSeededRandom(seed++), logger },
  );
}

/** Raw transport: one session, server pushes `total` bytes of blocks; returns bytes/s. */
async function transportSingleSession(total: number): Promise<number> {
  const server = await endpoint();
  const client = await endpoint();
  const chunk = new Uint8Array(64 * 1024).fill(7);
  server.onConnection((connection) => {
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        if (!connection.sendBlock({ object: 1, offset: sent, data: chunk })) return;
        sent += chunk.length;
      }
    };
    connection.onDrain(pump);
    connection.onStream((stream) => {
      stream.on('error', () => {});
      pump();
    });
  });
  const connection = await client.connect(server.localAddress(), server.publicKey);
  const started = performance.now();
  const done = new Promise<void>((resolve) => {
    let received = 0;
    connection.onBlock((b) => {
      received += b.data.length;
      if (received >= total) resolve();
    });
  });
  const trigger = connection.openStream();
  trigger.on('error', () => {});
  trigger.write(new Uint8Array([1]));
  await done;
  const seconds = (performance.now() - started) / 1000;
  connection.close();
  await client.close();
  await server.close();
  return total / seconds;
}

/** Edge egress with `sessions` concurrent client sessions, warm cache; returns bytes/s. */
async function edgeEgress(sessions: number, totalBytes: number): Promise<number> {
  const store = openStore(pathToFileURL(storeDir).href);
  const origin = createStoreOrigin(store);
  const cache = createMemoryPieceCache({ capacityBytes: 512 * MiB });
  const pieces = createPieceProvider(
    { memoryBytes: 256 * MiB },
    { manifests: createManifestRegistry({}, { origin, clock }), cache, origin },
  );
  for (let i = 0; i < release.manifest.pieces.length; i++) await pieces.getPiece(release.id, i); // warm
  const server = createEdgeServer(
    {
      id: 'bench-edge',
      region: 'lo',
      staticPrivateKey: key(),
      maxSessions: 10_000,
      transport: { congestion },
    },
    {
      socket: await udp.bind({ host: '127.0.0.1' }),
      clock,
      random: createSeededRandom(seed++),
      logger,
      pieces,
    },
  );
  const clients = [];
  for (let i = 0; i < sessions; i++) {
    const ep = await endpoint();
    const client = createEdgeClient({ requestTimeoutMs: 120_000 }, { endpoint: ep, clock, logger });
    await client.discoverEdges([{ address: server.address(), publicKey: server.publicKey }]);
    clients.push({ ep, client });
  }
  const perSession = Math.ceil(totalBytes / release.manifest.pieceLength / sessions);
  const started = performance.now();
  let bytes = 0;
  await Promise.all(
    clients.map(async ({ client }, c) => {
      let next = 0;
      // Four requests in flight per session keep the pipe full across piece boundaries.
      await Promise.all(
        Array.from({ length: Math.min(4, perSession) }, async () => {
          while (next < perSession) {
            const index = (c * 7 + next++) % release.manifest.pieces.length;
            // Read the piece first: `bytes += await x` would read `bytes` before awaiting and lose updates.
            const piece = await client.fetchPiece(release.manifest, index);
            bytes += piece.length;
          }
        }),
      );
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const { ep, client } of clients) {
    client.close();
    await ep.close();
  }
  await server.close();
  return bytes / seconds;
}

/** Parallel curl downloads of `url`; returns bytes/s. */
async function curlThroughput(url: string, parallel: number, rounds: number): Promise<number> {
  const started = performance.now();
  const sizes = await Promise.all(
    Array.from({ length: parallel }, async () => {
      let total = 0;
      for (let r = 0; r < rounds; r++) {
        const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{size_download}', url]);
        total += Number(stdout);
      }
      return total;
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return sizes.reduce((a, b) => a + b, 0) / seconds;
}

const dir = mkdtempSync(join(tmpdir(), 'edge-bench-'));
const storeDir = join(dir, 'store');
mkdirSync(storeDir);
const release = await publishTestRelease(openStore(pathToFileURL(storeDir).href), {
  size: 64 * MiB,
  pieceLength: MiB,
  seed: 1,
});
const mb = (bps: number) => bps / 1e6;

try {
  // --- transport baseline vs edge egress
  const transportBps = await transportSingleSession(64 * MiB);
  const edge: Record<number, number> = {};
  for (const sessions of [1, 10, 100]) edge[sessions] = await edgeEgress(sessions, 64 * MiB);

  // --- CDN vs @fastify/static
  const cdn = createCdn(
    { cacheBytes: 256 * MiB },
    { store: openStore(pathToFileURL(storeDir).href), clock, logger },
  );
  const cdnUrl = await cdn.app.listen({ host: '127.0.0.1', port: 0 });
  const staticApp = Fastify({ logger: false });
  await staticApp.register(fastifyStatic, { root: storeDir });
  const staticUrl = await staticApp.listen({ host: '127.0.0.1', port: 0 });
  const key = release.manifest.object;
  await curlThroughput(`${cdnUrl}/${key}`, 1, 1); // warm the CDN cache (the page cache serves both)
  await curlThroughput(`${staticUrl}/${key}`, 1, 1);
  let cdnBps = 0;
  let staticBps = 0;
  for (let round = 0; round < 2; round++) {
    staticBps = Math.max(staticBps, await curlThroughput(`${staticUrl}/${key}`, 4, 2));
    cdnBps = Math.max(cdnBps, await curlThroughput(`${cdnUrl}/${key}`, 4, 2));
  }
  await cdn.app.close();
  await staticApp.close();

  const figures: Figure[] = [
    { name: 'edge egress, 1 session', value: mb(edge[1]!), unit: 'MB/s' },
    { name: 'edge egress, 10 sessions', value: mb(edge[10]!), unit: 'MB/s' },
    { name: 'edge egress, 100 sessions', value: mb(edge[100]!), unit: 'MB/s' },
    { name: 'CDN (4 curl clients, warm cache)', value: mb(cdnBps), unit: 'MB/s' },
  ];
  const targets: Target[] = [
    {
      name: 'edge 10 sessions / transport single session',
      target: '>= 0.8',
      actual: edge[10]! / transportBps,
      unit: 'ratio',
      met: edge[10]! / transportBps >= 0.8,
    },
    {
      name: 'CDN / @fastify/static',
      target: '>= 0.7',
      actual: cdnBps / staticBps,
      unit: 'ratio',
      met: cdnBps / staticBps >= 0.7,
    },
  ];
  writeBenchReport({
    name: 'edge',
    baseline: {
      transport: {
        name: `PZ transport single session (${congestion})`,
        value: mb(transportBps),
        unit: 'MB/s',
      },
      static: { name: '@fastify/static, 4 curl clients', value: mb(staticBps), unit: 'MB/s' },
    },
    figures,
    targets,
    notes: [
      `congestion controller: ${congestion} (EDGE_BENCH_CC); 64 MiB release, 1 MiB pieces, warm edge cache`,
      'clients, servers and curl share the same 2 cores',
      `edge 1 session / transport: ${(edge[1]! / transportBps).toFixed(2)}; 100 sessions / transport: ${(edge[100]! / transportBps).toFixed(2)}`,
    ],
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
