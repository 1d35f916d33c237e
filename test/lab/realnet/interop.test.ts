import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hasBinary, netnsSupport } from '../../../lab/netns/index.ts';
import { INTEROP_SCENARIO, runInterop } from '../../../lab/realnet/index.ts';
import { loadScenario } from '../../../lab/scenario/load.ts';

// Stock aria2c in a device namespace downloads the release from its .torrent (tracker's standard
// announce, CDN web seed) while two real agents with the TCP BitTorrent wire seed it.
const support = netnsSupport();
const missing = ['nft', 'tc', 'gcc', 'curl', 'aria2c'].filter((b) => !hasBinary(b));
const usable = support.ok && missing.length === 0;

describe.skipIf(!usable)('aria2c interop with swarmlane agents (real kernel)', () => {
  it('aria2c gets pieces from the agents over TCP and writes the release byte-exact', async () => {
    const scenario = loadScenario(INTEROP_SCENARIO);
    const result = await runInterop(scenario, { deadlineSeconds: 45 });
    expect(result.agents.every((a) => a.exact)).toBe(true);
    expect(result.aria2.exact).toBe(true);
    // The CDN billed aria2c's address for less than the release: the rest came from the agents,
    // and the agents' own counters show uploads.
    expect(result.aria2.cdnBytes).toBeLessThan(result.releaseBytes);
    expect(result.aria2.peerBytes).toBeGreaterThan(0);
    // aria2c's own log: piece messages from the agents' TCP listeners.
    expect(result.aria2.blocksFromAgents).toBeGreaterThan(0);
    expect(result.aria2.bytesFromAgents).toBeGreaterThanOrEqual(result.aria2.peerBytes / 2);
    expect(result.agents.reduce((n, a) => n + a.uploaded, 0)).toBeGreaterThan(0);
    const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(namespaces).not.toContain(`sl-${result.runId}-`);
  }, 120_000);
});

if (!usable)
  console.warn(`skipping interop test: ${support.ok ? `${missing.join(', ')} missing` : support.reason}`);
