import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSeededRandom } from '../../runtime/index.ts';
import { startCdn } from './cdn-server.ts';
import { publishFixture } from './fixture-release.ts';

// The agent's own CLI wiring (cli/commands/agent.ts) in a real process; see fixtures/agent-cli.mjs.
const BIN = join(import.meta.dirname, 'fixtures', 'agent-cli.mjs');
const PIECE = 64 * 1024;
const SIZE = 4 * 1024 * 1024 + 99;

/**
 * A real `swarmlane agent fetch` process is killed with SIGKILL at random points of its download
 * (seeded), restarted, and finally completes. The CDN's billing proves that nothing verified before a
 * kill was fetched again: the total served stays within one copy plus the requests in flight at each
 * kill (2 range requests of one piece each).
 */
describe('kill -9 and resume (real processes, real CDN on 127.0.0.1)', () => {
  const fixture = publishFixture({ size: SIZE, pieceLength: PIECE, seed: 21 });
  let cdn: Awaited<ReturnType<typeof startCdn>>;
  beforeAll(async () => {
    cdn = await startCdn(fixture.storeUrl, { rateBytesPerSecond: 1024 * 1024 });
  });
  afterAll(async () => {
    await cdn.close();
  });

  const served = (): number => cdn.billing().keys[fixture.manifest.object]?.bytes ?? 0;
  const args = (stateDir: string, out: string) => [
    BIN,
    'agent',
    'fetch',
    '--trusted-key',
    fixture.pubPath,
    '--cdn',
    cdn.url,
    '--product',
    'fw',
    '--state',
    stateDir,
    '--out',
    out,
    '--json',
  ];

  it('re-downloads nothing verified after SIGKILL at random points', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'sl-kill-'));
    const out = join(stateDir, 'out.bin');
    const random = createSeededRandom(99);
    const kills = 3;
    for (let k = 0; k < kills; k++) {
      const child = spawn(process.execPath, args(stateDir, out), { stdio: ['ignore', 'pipe', 'pipe'] });
      // Kill somewhere between 10 % and 90 % of the remaining bytes.
      const before = served();
      const remaining = SIZE - before + k * 2 * PIECE;
      const killAt = before + Math.max(PIECE, Math.floor(remaining * (0.1 + 0.8 * random.float()) * 0.5));
      await waitFor(() => served() >= killAt || child.exitCode !== null, 30_000);
      expect(child.exitCode).toBeNull();
      child.kill('SIGKILL');
      await exited(child);
    }
    const child = spawn(process.execPath, args(stateDir, out), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await exited(child);
    expect(code, stderr).toBe(0);
    const summary = JSON.parse(stdout) as { sha256: string; resumedPieces: number; pieces: number };
    expect(summary.sha256).toBe(fixture.manifest.sha256);
    expect(summary.resumedPieces).toBeGreaterThan(0);
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(fixture.manifest.sha256);
    expect(served()).toBeLessThanOrEqual(SIZE + kills * 2 * PIECE);
  }, 120_000);
});

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!done()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}
