// npm run bench:publish — publishes a 1 GiB file to file:// and compares throughput with `sha256sum`
// on the same file in the same run, then publishes it through the real CLI (`bin/swarmlane.mjs
// publish`) to file:// and to a local s3rver and records each run's peak RSS. Every publish runs in a
// child process so its peak RSS is its own.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { S3RVER_ENV, startS3rver } from '../test/release/s3rver.ts';
import { writeBenchReport } from './lib/report.ts';

const SIZE = Number(process.env.BENCH_PUBLISH_BYTES ?? 1024 ** 3);
const ROUNDS = Number(process.env.BENCH_PUBLISH_ROUNDS ?? 2);
const MB = 1e6;
const MIB = 1024 ** 2;
/** The issue bounds a publish at 150 MB; the benchmark holds it to the stricter 150 MiB. */
const RSS_LIMIT_MIB = 150;
const REPO = join(import.meta.dirname, '..');
/** Loaded into the CLI child with --import: prints the process's peak RSS as it exits. */
const REPORT_PEAK_RSS = `data:text/javascript,process.on('exit',()=>process.stderr.write('peak-rss-kib='+process.resourceUsage().maxRSS+'\\n'))`;

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
    const cli = await cliRuns(dir, file);
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
        { name: 'publish peak RSS (library call)', value: peakRss, unit: 'MiB' },
        ...cli.flatMap((run) => [
          { name: `CLI publish to ${run.store}: peak RSS`, value: run.peakRssMiB, unit: 'MiB' },
          { name: `CLI publish to ${run.store}: throughput`, value: SIZE / MB / run.seconds, unit: 'MB/s' },
        ]),
      ],
      targets: [
        { name: 'publish / sha256sum', target: '>= 0.6', actual: ratio, unit: 'x', met: ratio >= 0.6 },
        {
          name: 'publish peak RSS (library call)',
          target: `< ${RSS_LIMIT_MIB} MiB`,
          actual: peakRss,
          unit: 'MiB',
          met: peakRss < RSS_LIMIT_MIB,
        },
        ...cli.map((run) => ({
          name: `CLI publish to ${run.store}: peak RSS (worst round)`,
          target: `< ${RSS_LIMIT_MIB} MiB`,
          actual: run.peakRssMiB,
          unit: 'MiB',
          met: run.peakRssMiB < RSS_LIMIT_MIB,
        })),
      ],
      notes: [
        'publish = one read pass: whole-file SHA-256 + per-piece SHA-256 + per-piece SHA-1 while copying the blob to file://, then torrent, manifest, read-back check, channel pointer',
        'publish time excludes process start-up; sha256sum time includes its own (tiny) start-up',
        `rounds: ${ROUNDS}; load average at start affects both sides equally since they alternate`,
        'CLI rows: `node bin/swarmlane.mjs publish FILE ... --json` as a user runs it (tsx, commander, the AWS SDK for s3://), peak RSS from the process itself at exit (getrusage maxRSS), worst of the rounds; throughput there includes start-up and, for s3://, s3rver writing the parts on the same 2 cores',
        `s3:// publishes go to a local s3rver (5 MiB parts, ${SIZE >= MIB ? Math.ceil(SIZE / (5 * MIB)) : 1} of them); the RSS target is the issue's "< 150 MB RSS for a 2 GB file" held in MiB; BENCH_PUBLISH_BYTES=2147483648 runs it at 2 GiB`,
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
    { encoding: 'utf8', cwd: REPO },
  );
  if (out.status !== 0) throw new Error(`publish child failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!);
}

interface CliRun {
  store: 'file://' | 's3:// (s3rver)';
  seconds: number;
  peakRssMiB: number;
}

/** Publishes the file through the CLI to a fresh file:// store and to s3rver, ROUNDS times each. */
async function cliRuns(dir: string, file: string): Promise<CliRun[]> {
  const key = join(dir, 'release');
  const keys = spawnSync(process.execPath, ['bin/swarmlane.mjs', 'keys', 'generate', '--out', key], {
    cwd: REPO,
    encoding: 'utf8',
  });
  if (keys.status !== 0) throw new Error(`keys generate failed: ${keys.stderr}`);
  const s3 = await startS3rver(['bench']);
  const worst = (runs: Array<{ seconds: number; peakRssMiB: number }>) => ({
    seconds: Math.min(...runs.map((r) => r.seconds)),
    peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
  });
  try {
    const fileRuns = [];
    const s3Runs = [];
    for (let round = 0; round < ROUNDS; round++) {
      const storeDir = join(dir, `cli-store-${round}`);
      fileRuns.push(await runCli(file, key, pathToFileURL(storeDir).href, []));
      rmSync(storeDir, { recursive: true, force: true });
      s3Runs.push(await runCli(file, key, `s3://bench/r${round}`, ['--s3-endpoint', s3.endpoint]));
      // s3rver keeps objects as files; drop this round's so the disk holds one copy at a time.
      rmSync(join(s3.directory, 'bench', `r${round}`), { recursive: true, force: true });
    }
    return [
      { store: 'file://', ...worst(fileRuns) },
      { store: 's3:// (s3rver)', ...worst(s3Runs) },
    ];
  } finally {
    await s3.stop();
  }
}

async function runCli(
  file: string,
  key: string,
  store: string,
  extra: string[],
): Promise<{ seconds: number; peakRssMiB: number }> {
  const args = ['--import', REPORT_PEAK_RSS, 'bin/swarmlane.mjs', 'publish', file];
  args.push('--product', 'bench', '--version', '1.0.0', '--key', `${key}.key`, '--store', store, '--json');
  const started = performance.now();
  const child = spawn(process.execPath, [...args, ...extra], {
    cwd: REPO,
    env: { ...process.env, ...S3RVER_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const seconds = (performance.now() - started) / 1000;
  const peak = /peak-rss-kib=(\d+)/.exec(stderr);
  if (code !== 0 || !peak) throw new Error(`CLI publish to ${store} failed (${code}): ${stderr}`);
  return { seconds, peakRssMiB: Number(peak[1]) / 1024 };
}
