import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../release/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { createStoreCatalogue } from '../../tracker/store-catalogue.ts';
import { createManualClock } from './helpers.ts';
import { createPublishedFixture, type PublishedFixture } from './published.ts';

let fixture: PublishedFixture | undefined;
afterEach(() => fixture?.cleanup());

describe('release catalogue from the store', () => {
  it('follows the signed channel pointer, keeps old releases known, and caches on the clock', async () => {
    fixture = createPublishedFixture(100_000);
    const first = await fixture.publish('1.0.0');
    const clock = createManualClock(Date.now());
    const store = openStore(fixture.storeUrl);
    let reads = 0;
    const counting = {
      ...store,
      url: store.url,
      get: (k: string, r?: { start: number; end: number }) => {
        reads++;
        return store.get(k, r);
      },
    };
    const catalogue = createStoreCatalogue(
      { refreshMs: 30_000, trusted: fixture.trusted },
      { store: counting, clock, logger: createSilentLogger() },
    );
    const current = await catalogue.current('acme-fw', 'stable');
    expect(current).toMatchObject({
      id: 'acme-fw@1.0.0',
      infoHash: first.infoHash,
      pieceCount: 7,
      objectKey: first.object,
    });
    expect(await catalogue.byInfoHash(first.infoHash)).toEqual(current);

    await fixture.publish('1.1.0');
    const readsBefore = reads;
    expect((await catalogue.current('acme-fw', 'stable'))?.version).toBe('1.0.0'); // still cached
    expect(reads).toBe(readsBefore);
    clock.advance(30_001);
    expect((await catalogue.current('acme-fw', 'stable'))?.version).toBe('1.1.0');
    expect((await catalogue.byId('acme-fw@1.0.0'))?.version).toBe('1.0.0');
    expect(await catalogue.byId('acme-fw@9.9.9')).toBeNull();
    expect(await catalogue.current('acme-fw', 'beta')).toBeNull();
    expect(await catalogue.byInfoHash('00'.repeat(20))).toBeNull();
  });

  it('keeps the last good release when the channel pointer stops verifying', async () => {
    fixture = createPublishedFixture(50_000);
    await fixture.publish('1.0.0');
    const clock = createManualClock(Date.now());
    const catalogue = createStoreCatalogue(
      { refreshMs: 1_000, trusted: fixture.trusted },
      { store: openStore(fixture.storeUrl), clock, logger: createSilentLogger() },
    );
    expect((await catalogue.current('acme-fw', 'stable'))?.version).toBe('1.0.0');
    writeFileSync(
      join(fixture.dir, 'store', 'channels', 'acme-fw', 'stable.json'),
      '{"signed":{},"signatures":[]}',
    );
    clock.advance(1_001);
    expect((await catalogue.current('acme-fw', 'stable'))?.version).toBe('1.0.0');
  });
});

describe('info hashes of releases published while the tracker runs', () => {
  it('finds a release published after the last scan within a second, and lookups during a scan wait for it', async () => {
    fixture = createPublishedFixture(50_000);
    const first = await fixture.publish('1.0.0');
    const clock = createManualClock(Date.now());
    const catalogue = createStoreCatalogue(
      { refreshMs: 30_000, trusted: fixture.trusted },
      { store: openStore(fixture.storeUrl), clock, logger: createSilentLogger() },
    );
    // Several stock clients at once: the ones arriving while the first scan runs must not miss.
    const found = await Promise.all([1, 2, 3].map(() => catalogue.byInfoHash(first.infoHash)));
    expect(found.map((f) => f?.id)).toEqual(['acme-fw@1.0.0', 'acme-fw@1.0.0', 'acme-fw@1.0.0']);

    writeFileSync(fixture.file, Buffer.alloc(50_000, 1)); // other bytes, so another info hash
    const second = await fixture.publish('1.1.0');
    expect(second.infoHash).not.toBe(first.infoHash);
    expect(await catalogue.byInfoHash(second.infoHash)).toBeNull(); // scanned just now: rate-limited
    clock.advance(1_001);
    expect((await catalogue.byInfoHash(second.infoHash))?.id).toBe('acme-fw@1.1.0');
    expect((await catalogue.byInfoHash(first.infoHash))?.id).toBe('acme-fw@1.0.0'); // old one stays known
  });
});
