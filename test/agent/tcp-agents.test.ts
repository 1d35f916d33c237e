import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, parseAgentConfig } from '../../agent/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import {
  createNodeClock,
  createNodeHttpClient,
  createNodeLogger,
  createNodeTcpNetwork,
} from '../../runtime/node/index.ts';
import { freePort } from '../support/free-port.ts';
import { startCdn } from './cdn-server.ts';
import { publishFixture } from './fixture-release.ts';

// No `udp` component: no PZ sessions, no edges: the TCP wire is the only way between the agents.
const components = (seed: number) => ({
  clock: createNodeClock(),
  random: createSeededRandom(seed),
  logger: process.env.DBG ? createNodeLogger({ level: 'debug' }) : createSilentLogger(),
  http: createNodeHttpClient(),
  tcp: createNodeTcpNetwork(),
});

describe('two agents over the TCP BitTorrent wire only (127.0.0.1)', () => {
  const fixture = publishFixture({ size: 2 * 1024 * 1024 + 4321, pieceLength: 64 * 1024, seed: 21 });
  let cdn: Awaited<ReturnType<typeof startCdn>>;
  const dirs: string[] = [];
  beforeAll(async () => {
    cdn = await startCdn(fixture.storeUrl);
  });
  afterAll(async () => {
    await cdn.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    rmSync(fixture.dir, { recursive: true, force: true });
  });
  const stateDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'sl-tcp-agent-'));
    dirs.push(d);
    return d;
  };

  it('a seeding agent serves the whole release to a second agent that has no other source for it', async () => {
    const seedPort = await freePort();
    const seeder = createAgent(
      parseAgentConfig({
        trust: { keys: [fixture.pubPath] },
        cdn: [cdn.url],
        stateDir: stateDir(),
        network: { udpHost: '127.0.0.1', tcpPort: seedPort },
        policy: { seedRatio: null, seedSeconds: 600 },
      }),
      components(1),
    );
    const seeded = await seeder.fetch({ product: 'fw', channel: 'stable' }, { seed: true });
    expect(seeded.bytesBySource.cdn).toBe(fixture.data.length);

    // What the network may send: garbage, a wrong swarm, a right one with a 4 GiB message. Each socket
    // is closed; the agent keeps serving.
    const tcp = createNodeTcpNetwork();
    const handshake = (infoHash: string): Buffer =>
      Buffer.concat([
        Buffer.from([19]),
        Buffer.from('BitTorrent protocol'),
        Buffer.alloc(8),
        Buffer.from(infoHash, 'hex'),
        Buffer.alloc(20, 7),
      ]);
    for (const bytes of [
      Buffer.from('\x16\x03\x01 not bittorrent'),
      handshake('ee'.repeat(20)),
      Buffer.concat([handshake(fixture.manifest.infoHash), Buffer.from([0xff, 0xff, 0xff, 0xf0, 5])]),
    ]) {
      const { stream } = await tcp.connect({ host: '127.0.0.1', port: seedPort });
      stream.on('error', () => {});
      stream.resume();
      stream.write(bytes);
      await new Promise((resolve) => stream.once('close', resolve));
    }

    // Then well-framed nonsense: every message id with short, long or random payloads (seeded).
    const messages = fc.array(
      fc.record({
        id: fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 20), fc.nat(255)),
        payload: fc.uint8Array({ maxLength: 40 }),
      }),
      { minLength: 1, maxLength: 12 },
    );
    const reserved = Buffer.alloc(8);
    reserved[5] = 0x10; // extension protocol (BEP 10)
    reserved[7] = 0x04; // fast extension (BEP 6)
    for (const sequence of fc.sample(messages, { seed: 42, numRuns: 60 })) {
      const { stream } = await tcp.connect({ host: '127.0.0.1', port: seedPort });
      stream.on('error', () => {});
      stream.resume();
      const hs = handshake(fixture.manifest.infoHash);
      reserved.copy(hs, 20);
      const framed = sequence.map(({ id, payload }) => {
        const head = Buffer.alloc(5);
        head.writeUInt32BE(payload.length + 1);
        head[4] = id;
        return Buffer.concat([head, payload]);
      });
      stream.write(Buffer.concat([hs, ...framed]));
      await new Promise((resolve) => setTimeout(resolve, 5));
      stream.destroy();
    }

    // From here the CDN answers metadata only: the blob is gone, so every piece must come from the seeder.
    rmSync(join(fixture.dir, fixture.manifest.object));
    const cdnOnlyMetadata = await startCdn(fixture.storeUrl);
    const leechDir = stateDir();
    const out = join(leechDir, 'out.bin');
    const leecher = createAgent(
      parseAgentConfig({
        trust: { keys: [fixture.pubPath] },
        cdn: [cdnOnlyMetadata.url],
        stateDir: leechDir,
        network: { udpHost: '127.0.0.1', tcpPort: 0, tcpPeers: [`127.0.0.1:${seedPort}`] },
        policy: { stallTimeoutSeconds: 60 },
      }),
      components(2),
    );
    try {
      const summary = await leecher.fetch({ product: 'fw', channel: 'stable' }, { out });
      expect(Buffer.from(readFileSync(out)).equals(Buffer.from(fixture.data))).toBe(true);
      expect(summary.sha256).toBe(fixture.manifest.sha256);
      expect(summary.bytesBySource['peer-same-isp']).toBe(fixture.data.length);
      expect(summary.bytesBySource.cdn).toBe(0);
      expect(seeder.uploaded()).toBeGreaterThanOrEqual(fixture.data.length);
    } finally {
      await leecher.stop();
      await seeder.stop();
      await cdnOnlyMetadata.close();
    }
  });
});
