import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, createAgent, parseAgentConfig } from '../../agent/index.ts';
import {
  createEdgeServer,
  createManifestRegistry,
  createMemoryPieceCache,
  createPieceProvider,
  createStoreOrigin,
  type EdgeServer,
} from '../../edge/index.ts';
import { createTrustedKeys, loadPublicKey, openStore } from '../../release/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import {
  createNodeClock,
  createNodeHttpClient,
  createNodeRandom,
  createNodeUdpNetwork,
} from '../../runtime/node/index.ts';
import { buildTracker, createMemorySwarmStore } from '../../tracker/index.ts';
import { createStoreCatalogue } from '../../tracker/store-catalogue.ts';
import { startCdn } from './cdn-server.ts';
import { publishFixture } from './fixture-release.ts';

const BIN = join(import.meta.dirname, 'fixtures', 'agent-cli.mjs');

/**
 * Real sockets on 127.0.0.1: the real tracker (HTTP), the lab CDN, a real edge (PZ over UDP) and a
 * second agent that already has the release and seeds it; `swarmlane agent fetch` runs as a separate
 * process and must finish byte-exact with bytes from that peer.
 */
describe('agent fetch against a real tracker + edge + CDN + a second agent (127.0.0.1)', () => {
  const fixture = publishFixture({ size: 2 * 1024 * 1024, pieceLength: 64 * 1024, seed: 71 });
  const logger = createSilentLogger();
  const clock = createNodeClock();
  let cdn: Awaited<ReturnType<typeof startCdn>>;
  let trackerUrl: string;
  let closeTracker: () => Promise<void>;
  let edge: EdgeServer;
  let seeder: Agent;

  beforeAll(async () => {
    cdn = await startCdn(fixture.storeUrl);
    const store = openStore(fixture.storeUrl);
    const trusted = createTrustedKeys([loadPublicKey(fixture.pubPath)], 1);
    const random = createSeededRandom(1);
    const { app } = buildTracker(
      { cdnBaseUrls: [cdn.url], rateLimit: null, youngIntervalSec: 5, minIntervalSec: 1 },
      {
        clock,
        random,
        logger,
        swarmStore: createMemorySwarmStore({ random, now: () => clock.now() }),
        catalogue: createStoreCatalogue({ refreshMs: 1000, trusted }, { store, clock, logger }),
      },
    );
    trackerUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    closeTracker = () => app.close();
    const origin = createStoreOrigin(store);
    edge = createEdgeServer(
      { id: 'edge-local', region: 'local', staticPrivateKey: createNodeRandom().bytes(32) },
      {
        socket: await createNodeUdpNetwork().bind({ host: '127.0.0.1', port: 0 }),
        clock,
        random: createNodeRandom(),
        logger,
        pieces: createPieceProvider(
          {},
          {
            manifests: createManifestRegistry({}, { origin, clock }),
            cache: createMemoryPieceCache({ capacityBytes: 64 * 1024 * 1024 }),
            origin,
          },
        ),
      },
    );
    seeder = createAgent(
      parseAgentConfig({
        trust: { keys: [fixture.pubPath] },
        tracker: trackerUrl,
        cdn: [cdn.url],
        stateDir: mkdtempSync(join(tmpdir(), 'sl-seeder-')),
        network: { udpHost: '127.0.0.1' },
        policy: { seedRatio: null, seedSeconds: 600 },
      }),
      {
        clock,
        random: createNodeRandom(),
        logger,
        http: createNodeHttpClient(),
        udp: createNodeUdpNetwork(),
      },
    );
    await seeder.fetch({ product: 'fw', channel: 'stable' }, { seed: true });
  });

  afterAll(async () => {
    await seeder?.stop();
    await edge?.close();
    await closeTracker?.();
    await cdn?.close();
  });

  it('completes byte-exact with bytes from the second agent', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'sl-fetch-'));
    const out = join(stateDir, 'fw.bin');
    const edgeSpec = `${edge.address().host}:${edge.address().port}@${Buffer.from(edge.publicKey).toString('base64')}`;
    const child = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        'fetch',
        '--tracker',
        trackerUrl,
        '--cdn',
        cdn.url,
        '--edge',
        edgeSpec,
        '--trusted-key',
        fixture.pubPath,
        '--product',
        'fw',
        '--state',
        stateDir,
        '--out',
        out,
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);
    const summary = JSON.parse(stdout) as {
      sha256: string;
      bytesBySource: Record<string, number>;
    };
    expect(summary.sha256).toBe(fixture.manifest.sha256);
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(fixture.manifest.sha256);
    const peer =
      (summary.bytesBySource['peer-same-isp'] ?? 0) + (summary.bytesBySource['peer-other-isp'] ?? 0);
    expect(peer).toBeGreaterThan(0);
    expect(seeder.uploaded()).toBeGreaterThan(0);
  }, 60_000);
});
