// npm run bench:publish — publishes a 1 GiB file to file:// and compares throughput with `sha256sum`
// on the same file in the same run. The publish runs in a child process so its peak RSS is its own.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeBenchReport } from './lib/report.ts';

const SIZE = Number(process.env.BENCH_PUBLISH_BYTES ?? 1024 ** 3);
const ROUNDS = Number(process.env.BENCH_PUBLISH_ROUNDS ?? 2);
const MB = 1e6;

if (process.argv[2] === '--child') await child(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else await main();

/** Child mode: one publish, then its timing and peak RSS as JSON on stdout. */
async function child(file: string, storeUrl: string, version: string): Promise<void> {
  const { createPrivateKey } = await import('node:crypto');
  const { publishRelease } = await import('../publisher/index.ts');
  const { generateKeyPair, openStore } = await import('../release/index.ts');
  const { createSilentLogger } = await import('../runtime/index.ts');
  const { createNodeClock } = await import('../runtime/node/index.ts');
  const key = createPrivateKey(generateKeyPair('ed25519').privatePem);
  const started = performance.now();
  const result = await publishRelease(
    { file, product: 'bench', version },
    {
      store: openStore(storeUrl),
      signingKeys: [key],
      clock: createNodeClock(),
      logger: createSilentLogger(),
    },
  );
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, pieces: result.pieceCount })}\n`,
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'swarmlane-bench-publish-'));
  const file = join(dir, 'firmware.bin');
  try {
    writeRandomFile(file, SIZE);
    const sha: number[] = [];
    const pub: Array<{ seconds: number; maxRssBytes: number }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Each publish goes to a fresh store so it does the full work (not the idempotent shortcut), and
      // the store is removed at once so the disk never holds more than the file plus one copy.
      const storeDir = join(dir, `store-${round}`);
      sha.push(timeSha256sum(file));
      pub.push(runChild(file, pathToFileURL(storeDir).href, `1.0.${round}`));
      rmSync(storeDir, { recursive: true, force: true });
    }
    const shaBest = Math.min(...sha);
    const pubBest = Math.min(...pub.map((p) => p.seconds));
    const shaMBps = SIZE / MB / shaBest;
    const pubMBps = SIZE / MB / pubBest;
    const peakRss = Math.max(...pub.map((p) => p.maxRssBytes)) / 1024 ** 2;
    const ratio = pubMBps / shaMBps;
    writeBenchReport({
      name: 'publish',
      baseline: {
        sha256sum: { name: 'sha256sum on the same file (best of rounds)', value: shaMBps, unit: 'MB/s' },
      },
      figures: [
        { name: 'file size', value: SIZE, unit: 'bytes' },
        { name: 'publish throughput (best of rounds)', value: pubMBps, unit: 'MB/s' },
        ...pub.map((p, i) => ({
          name: `publish round ${i + 1}`,
          value: SIZE / MB / p.seconds,
          unit: 'MB/s',
        })),
        ...sha.map((s, i) => ({ name: `sha256sum round ${i + 1}`, value: SIZE / MB / s, unit: 'MB/s' })),
        { name: 'publish peak RSS', value: peakRss, unit: 'MiB' },
      ],
      targets: [
        { name: 'publish / sha256sum', target: '>= 0.6', actual: ratio, unit: 'x', met: ratio >= 0.6 },
        { name: 'publish peak RSS', target: '< 150 MiB', actual: peakRss, unit: 'MiB', met: peakRss < 150 },
      ],
      notes: [
        'publish = one read pass: whole-file SHA-256 + per-piece SHA-256 + per-piece SHA-1 while copying the blob to file://, then torrent, manifest, read-back check, channel pointer',
        'publish time excludes process start-up; sha256sum time includes its own (tiny) start-up',
        `rounds: ${ROUNDS}; load average at start affects both sides equally since they alternate`,
      ],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeRandomFile(path: string, size: number): void {
  const fd = openSync(path, 'w');
  try {
    const chunk = randomBytes(16 * 1024 * 1024);
    for (let written = 0; written < size; ) {
      const n = Math.min(chunk.length, size - written);
      writeSync(fd, chunk, 0, n);
      // Vary the content so no two pieces are equal.
      chunk.writeUInt32LE(written, 0);
      written += n;
    }
  } finally {
    closeSync(fd);
  }
}

function timeSha256sum(file: string): number {
  const started = performance.now();
  const out = spawnSync('sha256sum', [file], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`sha256sum failed: ${out.stderr}`);
  return (performance.now() - started) / 1000;
}

function runChild(file: string, storeUrl: string, version: string): { seconds: number; maxRssBytes: number } {
  const out = spawnSync(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, '--child', file, storeUrl, version],
    { encoding: 'utf8', cwd: join(import.meta.dirname, '..') },
  );
  if (out.status !== 0) throw new Error(`publish child failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!);
}
