import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, parseAgentConfig } from '../../agent/index.ts';
import { createSeededRandom, createSilentLogger, type HttpClient } from '../../runtime/index.ts';
import { createNodeClock, createNodeHttpClient, createNodeLogger } from '../../runtime/node/index.ts';
import { startCdn } from './cdn-server.ts';
import { publishFixture } from './fixture-release.ts';

const components = () => ({
  clock: createNodeClock(),
  random: createSeededRandom(3),
  logger: process.env.DBG ? createNodeLogger({ level: 'debug' }) : createSilentLogger(),
  http: createNodeHttpClient(),
});

describe('agent fetch from the CDN only (real CDN on 127.0.0.1)', () => {
  const fixture = publishFixture({ size: 3 * 1024 * 1024 + 777, pieceLength: 64 * 1024, seed: 11 });
  let cdn: Awaited<ReturnType<typeof startCdn>>;
  beforeAll(async () => {
    cdn = await startCdn(fixture.storeUrl);
  });
  afterAll(async () => {
    await cdn.close();
  });

  const config = (stateDir: string) =>
    parseAgentConfig({
      trust: { keys: [fixture.pubPath] },
      cdn: [cdn.url],
      stateDir,
      follow: [{ product: 'fw' }],
    });

  it('downloads byte-exact, then a second fetch re-downloads nothing', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'sl-agent-'));
    const out = join(stateDir, 'out.bin');
    const agent = createAgent(config(stateDir), components());
    const first = await agent.fetch({ product: 'fw', channel: 'stable' }, { out });
    expect(Buffer.from(readFileSync(out)).equals(Buffer.from(fixture.data))).toBe(true);
    expect(first.sha256).toBe(fixture.manifest.sha256);
    expect(first.bytesBySource.cdn).toBe(fixture.data.length);
    const second = await createAgent(config(stateDir), components()).fetch({
      product: 'fw',
      channel: 'stable',
    });
    expect(second.resumedPieces).toBe(second.pieces);
    expect(second.downloadedBytes).toBe(0);
  });

  it('checks the release on the CDN while the tracker is still answering (start-up does not queue them)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'sl-agent-'));
    const base = components();
    const urls: string[] = [];
    let channelAskedBeforeTrackerAnswered: boolean | undefined;
    const http: HttpClient = {
      async request(request) {
        urls.push(request.url);
        if (!request.url.startsWith('http://tracker.test')) return base.http.request(request);
        channelAskedBeforeTrackerAnswered ??= urls.some(
          (u) => u.startsWith(cdn.url) && u.includes('/channels/'),
        );
        return { status: 503, headers: {}, body: new Uint8Array() };
      },
    };
    const agent = createAgent(
      parseAgentConfig({
        trust: { keys: [fixture.pubPath] },
        tracker: 'http://tracker.test',
        cdn: [cdn.url],
        stateDir,
        follow: [{ product: 'fw' }],
      }),
      { ...base, http },
    );
    const summary = await agent.fetch({ product: 'fw', channel: 'stable' });
    expect(summary.sha256).toBe(fixture.manifest.sha256);
    expect(urls.some((u) => u.includes('/current'))).toBe(true);
    expect(channelAskedBeforeTrackerAnswered).toBe(true);
  });

  it('refuses an expired channel pointer, a rolled-back one, and a tampered manifest', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'sl-agent-'));
    const agent = createAgent(config(stateDir), components());
    fixture.writeChannel({ sequence: 5 });
    await agent.fetch({ product: 'fw', channel: 'stable' });

    fixture.writeChannel({ sequence: 4 });
    await expect(agent.fetch({ product: 'fw', channel: 'stable' })).rejects.toMatchObject({
      code: 'RELEASE_REFUSED',
      message: expect.stringContaining('ROLLBACK'),
    });
    // The last-seen sequence survives a restart: a fresh agent on the same state dir refuses too.
    await expect(
      createAgent(config(stateDir), components()).fetch({ product: 'fw', channel: 'stable' }),
    ).rejects.toMatchObject({ code: 'RELEASE_REFUSED' });

    fixture.writeChannel({ sequence: 6, expires: new Date(Date.now() - 1000).toISOString() });
    await expect(agent.fetch({ product: 'fw', channel: 'stable' })).rejects.toMatchObject({
      code: 'RELEASE_REFUSED',
      message: expect.stringContaining('EXPIRED'),
    });

    fixture.writeChannel({ sequence: 7, expires: new Date(Date.now() + 86400_000).toISOString() });
    fixture.writeRawManifest(new TextEncoder().encode('{"signed":{},"signatures":[]}'));
    await expect(agent.fetch({ product: 'fw', channel: 'stable' })).rejects.toMatchObject({
      code: 'RELEASE_REFUSED',
      message: expect.stringContaining('HASH_MISMATCH'),
    });
  });
});
