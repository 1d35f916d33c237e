import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../release/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { createNodeClock } from '../../runtime/node/index.ts';
import { buildTracker } from '../../tracker/app.ts';
import { createMemorySwarmStore } from '../../tracker/memory-store.ts';
import { createStoreCatalogue } from '../../tracker/store-catalogue.ts';
import { freePort } from '../support/free-port.ts';
import { createPublishedFixture, type PublishedFixture } from './published.ts';

const ARIA_COMMON = [
  '--enable-dht=false',
  '--enable-dht6=false',
  '--bt-enable-lpd=false',
  '--enable-peer-exchange=false',
  '--bt-require-crypto=false',
  '--follow-torrent=false',
  '--console-log-level=warn',
  '--summary-interval=0',
  '--bt-tracker-interval=2',
  '--bt-stop-timeout=60',
  '--disable-ipv6=true',
];

let fixture: PublishedFixture | undefined;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  fixture?.cleanup();
});

describe('stock BitTorrent client (aria2c) against the tracker', () => {
  it('aria2c downloads the release from a second aria2c found through the tracker', async () => {
    fixture = createPublishedFixture(400_000);
    const clock = createNodeClock();
    const random = createSeededRandom(7);
    const store = openStore(fixture.storeUrl);
    const { app } = buildTracker(
      { rateLimit: null },
      {
        clock,
        random,
        logger: createSilentLogger(),
        swarmStore: createMemorySwarmStore({ random, now: clock.now }),
        catalogue: createStoreCatalogue(
          { refreshMs: 1_000, trusted: fixture.trusted },
          { store, clock, logger: createSilentLogger() },
        ),
      },
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const published = await fixture.publish('1.0.0', `http://127.0.0.1:${port}`);
      const torrent = join(fixture.dir, 'release.torrent');
      writeFileSync(torrent, readFileSync(join(fixture.dir, 'store', published.torrent)));

      const seedDir = join(fixture.dir, 'seed');
      const leechDir = join(fixture.dir, 'leech');
      mkdirSync(seedDir);
      mkdirSync(leechDir);
      copyFileSync(fixture.file, join(seedDir, 'firmware.bin'));

      const run = (dir: string, listen: number, extra: string[]) => {
        const child = spawn(
          'aria2c',
          [...ARIA_COMMON, `--dir=${dir}`, `--listen-port=${listen}`, ...extra, torrent],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        children.push(child);
        let output = '';
        child.stdout?.on('data', (d) => (output += d));
        child.stderr?.on('data', (d) => (output += d));
        const exit = new Promise<{ code: number | null; output: string }>((resolve) =>
          child.once('exit', (code) => resolve({ code, output })),
        );
        return { child, exit };
      };
      const seeder = run(seedDir, await freePort(), [
        '--check-integrity=true',
        '--seed-ratio=0.0',
        '--seed-time=5',
      ]);
      const leecher = run(leechDir, await freePort(), ['--seed-time=0']);
      const result = await leecher.exit;
      expect(result.code, result.output).toBe(0);
      expect(Buffer.compare(readFileSync(join(leechDir, 'firmware.bin')), Buffer.from(fixture.bytes))).toBe(
        0,
      );

      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const started = /swarmlane_tracker_announces_total\{api="bt",event="started"\} (\d+)/.exec(metrics);
      expect(Number(started?.[1])).toBeGreaterThanOrEqual(2);
      seeder.child.kill('SIGTERM');
    } finally {
      await app.close();
    }
  });
});
