import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, parseAgentConfig } from '../../agent/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { createNodeClock, createNodeHttpClient } from '../../runtime/node/index.ts';
import { startCdn } from './cdn-server.ts';
import { publishFixture } from './fixture-release.ts';

const components = () => ({
  clock: createNodeClock(),
  random: createSeededRandom(5),
  logger: createSilentLogger(),
  http: createNodeHttpClient(),
});

describe('install step', () => {
  const fixture = publishFixture({ size: 300 * 1024, pieceLength: 64 * 1024, seed: 61, version: '1.2.0' });
  let cdn: Awaited<ReturnType<typeof startCdn>>;
  beforeAll(async () => {
    cdn = await startCdn(fixture.storeUrl);
  });
  afterAll(async () => {
    await cdn.close();
  });
  const config = (stateDir: string, hook: string) =>
    parseAgentConfig({ trust: { keys: [fixture.pubPath] }, cdn: [cdn.url], stateDir, install: { hook } });

  it('runs the hook with the verified file and release metadata, once', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'sl-install-'));
    const marker = join(stateDir, 'installed.txt');
    const hook = `echo "$SWARMLANE_PRODUCT $SWARMLANE_VERSION $SWARMLANE_SHA256 $(sha256sum "$SWARMLANE_FILE" | cut -d' ' -f1)" >> ${marker}`;
    const agent = createAgent(config(stateDir, hook), components());
    const summary = await agent.fetch({ product: 'fw', channel: 'stable' }, { install: true });
    expect(summary.install).toEqual({ outcome: 'installed' });
    const sha = fixture.manifest.sha256;
    expect(readFileSync(marker, 'utf8')).toBe(`fw 1.2.0 ${sha} ${sha}\n`);
    const again = await agent.fetch({ product: 'fw', channel: 'stable' }, { install: true });
    expect(again.install).toEqual({ outcome: 'already-installed' });
    expect(readFileSync(marker, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('reports a failing hook and never installs an older version', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'sl-install-'));
    const failing = await createAgent(config(stateDir, 'echo broken >&2; exit 3'), components()).fetch(
      { product: 'fw', channel: 'stable' },
      { install: true },
    );
    expect(failing.install?.outcome).toBe('install-failed');
    expect(failing.install?.detail).toMatch(/exited 3: broken/);

    // The device already runs 2.0.0: 1.2.0 is downloaded but refused at install.
    const statePath = join(stateDir, 'agent.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { installed: Record<string, string> };
    state.installed.fw = '2.0.0';
    writeFileSync(statePath, JSON.stringify(state));
    const older = await createAgent(config(stateDir, 'true'), components()).fetch(
      { product: 'fw', channel: 'stable' },
      { install: true },
    );
    expect(older.install?.outcome).toBe('install-failed');
    expect(older.install?.detail).toMatch(/older than installed 2.0.0/);
  });
});
