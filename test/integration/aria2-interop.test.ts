import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSeededRandom } from '../../runtime/index.ts';
import { freePort } from '../support/free-port.ts';

/**
 * Interop with a stock BitTorrent client no one here wrote (Debian's aria2c), all real processes on
 * 127.0.0.1: `swarmlane publish` (file:// store), `swarmlane tracker`, `swarmlane cdn` and
 * `swarmlane agent` with the TCP wire on. The torrent's web seed points at a closed port, so every
 * piece aria2c gets comes over the TCP BitTorrent wire from the agent, and the other way round.
 */
vi.setConfig({ testTimeout: 180_000, hookTimeout: 120_000 });
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'swarmlane.mjs');
const SIZE = 3 * 1024 * 1024 + 12_345;
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

interface Proc {
  child: ChildProcess;
  output(): string;
  exit: Promise<number | null>;
}
const procs: Proc[] = [];

function run(command: string, args: string[], cwd: string): Proc {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const proc = { child, output: () => output, exit };
  procs.push(proc);
  return proc;
}
const swarmlane = (args: string[], cwd: string): Proc => run(process.execPath, [BIN, ...args], cwd);

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const httpOk = async (url: string): Promise<boolean> => (await fetch(url)).ok;

/** JSON log lines (pino) of a swarmlane process. */
const logLines = (proc: Proc): Array<Record<string, unknown>> =>
  proc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });

const ARIA2 = [
  '--enable-dht=false',
  '--enable-dht6=false',
  '--bt-enable-lpd=false',
  '--enable-peer-exchange=false',
  '--disable-ipv6=true',
  '--follow-torrent=false',
  '--console-log-level=warn',
  '--summary-interval=0',
  '--bt-tracker-interval=2',
  '--file-allocation=none',
];

const hasAria2 = spawnSync('aria2c', ['--version']).status === 0;
if (!hasAria2) console.warn('aria2c is not installed (Debian package aria2): skipping the interop test');

describe.skipIf(!hasAria2)('stock BitTorrent client (aria2c) and swarmlane agents over the TCP wire', () => {
  const work = mkdtempSync(join(tmpdir(), 'sl-interop-'));
  const store = join(work, 'store');
  const storeUrl = pathToFileURL(store).href;
  let trackerUrl = '';
  let cdnUrl = '';
  let deadWebseed = '';

  const publish = async (
    product: string,
    seed: number,
  ): Promise<{ file: string; torrent: string; object: string }> => {
    const dir = join(work, product);
    mkdirSync(dir);
    const file = join(dir, 'firmware.bin');
    writeFileSync(file, createSeededRandom(seed).bytes(SIZE));
    const p = swarmlane(
      [
        'publish',
        file,
        '--product',
        product,
        '--version',
        '1.0.0',
        '--key',
        join(work, 'release.key'),
        '--store',
        storeUrl,
        '--tracker',
        trackerUrl,
        '--webseed',
        deadWebseed,
        '--piece-size',
        '64K',
        '--json',
      ],
      work,
    );
    expect(await p.exit, p.output()).toBe(0);
    const result = JSON.parse(p.output().trim().split('\n').pop() ?? '{}') as {
      torrent: string;
      object: string;
    };
    return { file, torrent: join(store, result.torrent), object: join(store, result.object) };
  };

  const agentConfig = (
    name: string,
    product: string,
    tcpPort: number,
    policy: object,
    extra: object = {},
  ): string => {
    const stateDir = join(work, `state-${name}`);
    const path = join(work, `${name}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        trust: { keys: [join(work, 'release.pub')] },
        tracker: trackerUrl,
        cdn: [cdnUrl],
        stateDir,
        follow: [{ product }],
        network: { udpHost: '127.0.0.1', tcpPort, traversal: false },
        policy: { checkIntervalSeconds: 3600, ...policy },
        ...extra,
      }),
    );
    return path;
  };

  beforeAll(async () => {
    const keys = swarmlane(['keys', 'generate', '--out', join(work, 'release')], work);
    expect(await keys.exit, keys.output()).toBe(0);
    const [trackerPort, cdnPort, deadPort] = [await freePort(), await freePort(), await freePort()];
    trackerUrl = `http://127.0.0.1:${trackerPort}`;
    cdnUrl = `http://127.0.0.1:${cdnPort}`;
    // Nothing listens here: aria2c's web seed is unreachable, so only peers can serve it.
    deadWebseed = `http://127.0.0.1:${deadPort}`;
    mkdirSync(store);
    swarmlane(
      [
        'tracker',
        '--listen',
        `127.0.0.1:${trackerPort}`,
        '--store',
        storeUrl,
        '--trusted-key',
        join(work, 'release.pub'),
        '--refresh',
        '1',
        '--rate-limit',
        '0',
        '--log-level',
        'warn',
      ],
      work,
    );
    swarmlane(['cdn', '--listen', `127.0.0.1:${cdnPort}`, '--store', storeUrl], work);
    await until('tracker', () => httpOk(`${trackerUrl}/healthz`));
  });

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exit));
    rmSync(work, { recursive: true, force: true });
  });

  it('aria2c downloads a release byte-exact from a seeding agent', async () => {
    const release = await publish('fw-a', 1);
    const agentPort = await freePort();
    const agent = swarmlane(
      [
        'agent',
        'run',
        '--config',
        agentConfig('seeder', 'fw-a', agentPort, { seedRatio: null }),
        '--log-level',
        'info',
      ],
      work,
    );
    await until('the agent to have the release', () =>
      logLines(agent).some((l) => l.msg === 'release ready'),
    );

    const ariaDir = join(work, 'aria-leech');
    mkdirSync(ariaDir);
    const aria = run(
      'aria2c',
      [...ARIA2, `--dir=${ariaDir}`, `--listen-port=${await freePort()}`, '--seed-time=0', release.torrent],
      work,
    );
    expect(await aria.exit, aria.output()).toBe(0);
    const got = readFileSync(join(ariaDir, 'firmware.bin'));
    expect(sha256(got)).toBe(sha256(readFileSync(release.file)));

    agent.child.kill('SIGTERM');
    expect(await agent.exit).toBe(0);
    const stopped = logLines(agent).find((l) => l.msg === 'seeding stopped');
    expect(stopped, agent.output().slice(-2000)).toBeDefined();
    expect(Number(stopped?.uploaded)).toBeGreaterThanOrEqual(SIZE);
  });

  it('an agent downloads a release byte-exact from an aria2c seeder (the CDN has no copy)', async () => {
    const release = await publish('fw-b', 2);
    const seedDir = join(work, 'aria-seed');
    mkdirSync(seedDir);
    copyFileSync(release.file, join(seedDir, 'firmware.bin'));
    // The store keeps the metadata but loses the blob: neither CDN nor web seed can serve a byte.
    rmSync(release.object);
    run(
      'aria2c',
      [
        ...ARIA2,
        `--dir=${seedDir}`,
        `--listen-port=${await freePort()}`,
        '--check-integrity=true',
        '--seed-ratio=0.0',
        release.torrent,
      ],
      work,
    );
    const out = join(work, 'fw-b.bin');
    // Off Wi-Fi with a Wi-Fi-only upload policy: the tracker does not hand this agent to stock clients,
    // so the only way to the seeder is the agent dialling the btPeers its announce answer lists.
    const deviceState = join(work, 'device-state.json');
    writeFileSync(deviceState, JSON.stringify({ wifi: false, power: true }));
    const config = agentConfig(
      'leecher',
      'fw-b',
      0,
      { wifiOnly: true },
      { deviceState: { provider: 'file', path: deviceState } },
    );
    const leech = swarmlane(['agent', 'fetch', '--config', config, '--out', out, '--json'], work);
    expect(await leech.exit, leech.output().slice(-3000)).toBe(0);
    const summary = JSON.parse(
      leech
        .output()
        .split('\n')
        .find((l) => l.startsWith('{"product"')) ?? '{}',
    ) as { bytesBySource: Record<string, number>; sha256: string; uploadedBytes: number };
    expect(sha256(readFileSync(out))).toBe(sha256(readFileSync(join(seedDir, 'firmware.bin'))));
    expect(summary.bytesBySource['peer-same-isp']).toBe(SIZE);
    expect(summary.bytesBySource.cdn).toBe(0);
    expect(summary.uploadedBytes).toBe(0);
  });
});
