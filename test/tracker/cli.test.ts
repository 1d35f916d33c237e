import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPublishedFixture, type PublishedFixture } from './published.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'swarmlane.mjs');

let fixture: PublishedFixture | undefined;

const spawned: ChildProcess[] = [];
afterEach(() => {
  for (const c of spawned.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fixture?.cleanup();
});

function run(args: string[]): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const c = spawn(process.execPath, [BIN, 'tracker', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(c);
  let output = '';
  c.stdout?.on('data', (d) => (output += d));
  c.stderr?.on('data', (d) => (output += d));
  return {
    child: c,
    output: () => output,
    exit: new Promise((resolve) => c.once('exit', (code) => resolve(code))),
  };
}

describe('swarmlane tracker', () => {
  it("serves the store's releases over HTTP with a rendezvous endpoint, and stops on SIGTERM", async () => {
    fixture = createPublishedFixture(50_000);
    await fixture.publish('1.0.0');
    const tokenFile = join(fixture.dir, 'admin.token');
    writeFileSync(tokenFile, 'a-long-enough-admin-token\n');
    const r = run([
      '--listen',
      '127.0.0.1:0',
      '--udp',
      '0',
      '--store',
      fixture.storeUrl,
      '--trusted-key',
      fixture.publicKeyPath,
      '--admin-token-file',
      tokenFile,
      '--cdn',
      'http://cdn.example',
      '--log-level',
      'warn',
    ]);

    for (let i = 0; i < 800 && !/listening on/.test(r.output()); i++)
      await new Promise((res) => setTimeout(res, 50));
    const base = /listening on (http:\/\/\S+)/.exec(r.output())?.[1];
    expect(base, r.output()).toBeDefined();
    const current = (await (await fetch(`${base}/v1/products/acme-fw/channels/stable/current`)).json()) as {
      release: string;
      eligible: boolean;
      cdnUrls: string[];
    };
    expect(current).toMatchObject({ release: 'acme-fw@1.0.0', eligible: true });
    expect(current.cdnUrls[0]).toMatch(/^http:\/\/cdn\.example\/releases\/acme-fw\/1\.0\.0\//);
    const rendezvous = (await (await fetch(`${base}/v1/rendezvous`)).json()) as {
      port: number;
      publicKey: string;
    };
    expect(rendezvous.port).toBeGreaterThan(0);
    expect(Buffer.from(rendezvous.publicKey, 'base64')).toHaveLength(32);
    const admin = await fetch(`${base}/v1/admin/rollouts/acme-fw/stable`, {
      headers: { authorization: 'Bearer a-long-enough-admin-token' },
    });
    expect(admin.status).toBe(200);
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  });

  it('refuses bad configuration in one line with a stable code', async () => {
    fixture = createPublishedFixture(20_000);
    const base = ['--store', fixture.storeUrl, '--trusted-key', fixture.publicKeyPath];
    const good = ['--listen', '127.0.0.1:0', ...base];
    const bad = [
      ['--listen', 'nonsense', ...base],
      [...good, '--default-scope', 'galaxy'],
      [...good, '--prefixes', '/nonexistent.csv'],
      // A file that is not a MaxMind DB.
      [...good, '--asn-db', fixture.publicKeyPath],
    ];
    // All at once: each is a CLI start-up (seconds on a busy machine), and they are independent.
    const runs = bad.map((args) => run(args));
    const usage = run(['--listen', '127.0.0.1:0']);
    for (const r of runs) {
      expect(await r.exit).toBe(1);
      expect(r.output()).toMatch(/^swarmlane: .*\[TRACKER_CONFIG_INVALID\]\n$/);
    }
    expect(await usage.exit).toBe(2);
  });
});
