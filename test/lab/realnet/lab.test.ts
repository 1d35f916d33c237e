import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerLabNetnsCommand } from '../../../cli/commands/lab-netns.ts';
import { hasBinary, netnsSupport } from '../../../lab/netns/index.ts';
import type { RealnetResults } from '../../../lab/realnet/index.ts';

// The real-kernel lab end to end, through the CLI command: namespaces, nftables NAT44/NAT444,
// miniupnpd, emulated links, real tracker/CDN/edge processes, one real agent per device, and stock
// aria2c for the plain-bittorrent baseline (the interop check: .torrent + tracker + CDN web seed).
const support = netnsSupport();
const missing = ['nft', 'tc', 'gcc', 'curl'].filter((b) => !hasBinary(b));
const usable = support.ok && missing.length === 0;
const FIXTURE = join(import.meta.dirname, 'fixtures', 'netns-small.yaml');
const RELEASE = 4 * 1024 * 1024;

describe.skipIf(!usable)('swarmlane lab netns (real kernel)', () => {
  it('runs a 5-device NAT44/NAT444 scenario byte-exact for every strategy and leaves nothing behind', async () => {
    const out = mkdtempSync(join(tmpdir(), 'sl-netns-test-'));
    try {
      const program = new Command().exitOverride();
      registerLabNetnsCommand(program.command('lab'));
      await program.parseAsync(
        ['node', 'swarmlane', 'lab', 'netns', FIXTURE, '--out', out, '--deadline', '90'],
        {
          from: 'node',
        },
      );
      const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RealnetResults;
      expect(existsSync(join(out, 'report.html'))).toBe(true);
      expect(results.devices).toBe(5);
      const strategies = hasBinary('aria2c')
        ? ['client-server', 'swarmlane', 'plain-bittorrent']
        : ['client-server', 'swarmlane'];
      for (const s of strategies) {
        expect(results.realnet.byteExact[s], s).toEqual({ devices: 5, exact: 5 });
        expect(results.strategies[s as 'swarmlane'].completed, s).toBe(5);
      }
      // Client-server: the CDN's own report bills at least one full copy per device.
      expect(results.strategies['client-server'].cdnBytes).toBeGreaterThanOrEqual(5 * RELEASE);
      // Swarmlane: peers and the edge carry part of it.
      expect(results.strategies.swarmlane.infraBytes).toBeLessThanOrEqual(
        results.strategies['client-server'].infraBytes,
      );
      expect(results.strategies.swarmlane.peerBytes + results.strategies.swarmlane.edgeBytes).toBeGreaterThan(
        0,
      );
      expect(results.realnet.upnpRouters).toBeGreaterThan(0);
      // Nothing left: no namespace of this run, no process of it.
      const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      expect(namespaces).not.toContain(`sl-${results.realnet.runId}-`);
      // Every device, router and infrastructure process had the run's scratch dir in its arguments.
      const stray = execFileSync(
        'sh',
        ['-c', 'ps -eo args | grep "sl-netns-netns-small-" | grep -vc grep; true'],
        {
          encoding: 'utf8',
        },
      );
      expect(Number(stray.trim())).toBe(0);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);
});

if (!usable)
  console.warn(`skipping lab netns tests: ${support.ok ? `${missing.join(', ')} missing` : support.reason}`);
