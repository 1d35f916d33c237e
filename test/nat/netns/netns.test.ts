import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  cleanupStaleNamespaces,
  createNetnsLab,
  netnsSupport,
  routerRuleset,
} from '../../../lab/netns/index.ts';

const support = netnsSupport();
const namespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

describe.skipIf(!support.ok)('lab/netns library', () => {
  it('tears down namespaces and the processes inside them', async () => {
    const lab = await createNetnsLab();
    const a = await lab.namespace('x');
    const b = await lab.namespace('y');
    await lab.veth(a, 'eth0', b, 'eth0');
    await a.addAddress('eth0', '10.9.0.1/24');
    await b.addAddress('eth0', '10.9.0.2/24');
    await a.nft(routerRuleset('port-restricted', 'eth0', 'lo'));
    expect(await a.ruleset()).toContain('masquerade');
    const sleeper = b.spawn('sleep', ['300']);
    expect(namespaces()).toContain(`sl-${lab.runId}-x`);
    await lab.teardown();
    expect(namespaces()).not.toContain(`sl-${lab.runId}-`);
    expect(sleeper.child.exitCode !== null || sleeper.child.signalCode !== null).toBe(true);
  });

  it('removes namespaces left by a run whose process died, and only those', async () => {
    const dead = 'dead01';
    execFileSync('ip', ['netns', 'add', `sl-${dead}-z`]);
    mkdirSync('/run/swarmlane-netns', { recursive: true });
    writeFileSync(`/run/swarmlane-netns/${dead}`, '999999999');
    const foreign = 'sl-foreign1-q'; // not created through this library: never ours to delete
    execFileSync('ip', ['netns', 'add', foreign]);
    const live = await createNetnsLab();
    await live.namespace('keep');
    try {
      await cleanupStaleNamespaces();
      expect(namespaces()).not.toContain(`sl-${dead}-z`);
      expect(namespaces()).toContain(`sl-${live.runId}-keep`);
      expect(namespaces()).toContain(foreign);
    } finally {
      await live.teardown();
      execFileSync('ip', ['netns', 'del', foreign]);
    }
  });
});

if (!support.ok) console.warn(`skipping lab/netns tests: ${support.reason}`);
