import bencode from 'bencode';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { announceBody, makeTracker, RELEASE } from './helpers.ts';

const enc = (bytes: Uint8Array) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

describe('bad input never yields a 5xx', () => {
  it('standard announce and scrape: any query answers HTTP 200 with a bencoded dictionary', async () => {
    const { app } = makeTracker({ allowUnknownTorrents: true });
    const key = fc.constantFrom(
      'info_hash',
      'peer_id',
      'port',
      'left',
      'numwant',
      'event',
      'compact',
      'uploaded',
      'x',
    );
    const value = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 24 }).map(enc),
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
      fc.integer({ min: -1e6, max: 1e12 }).map(String),
      fc.constantFrom('%', '%zz', '%4', '+', '&&', '='),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(key, value), { maxLength: 10 }),
        fc.boolean(),
        async (pairs, scrape) => {
          const url = `/${scrape ? 'scrape' : 'announce'}?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`;
          const res = await app.inject({ method: 'GET', url });
          expect(res.statusCode).toBe(200);
          const body = bencode.decode(res.rawPayload) as Record<string, unknown>;
          expect(typeof body).toBe('object');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('agent routes: any JSON body answers below 500', async () => {
    const { app } = makeTracker();
    const routes = ['/v1/announce', '/v1/report', '/v1/edges', '/v1/edges/heartbeat'];
    const mutated = fc
      .record({ key: fc.constantFrom(...Object.keys(announceBody('device-0001'))), value: fc.jsonValue() })
      .map(({ key, value }) => ({ ...announceBody('device-0001'), [key]: value }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(fc.jsonValue(), mutated), async (url, body) => {
        const res = await app.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify(body) ?? 'null',
        });
        expect(res.statusCode).toBeLessThan(500);
        if (res.statusCode >= 400) expect(res.json().error.code).toMatch(/^[A-Z_]+$/);
      }),
      { numRuns: 300 },
    );
    const stats = await app.inject({
      method: 'GET',
      url: `/v1/releases/${encodeURIComponent('../../etc')}/stats`,
    });
    expect(stats.statusCode).toBe(400);
    const current = await app.inject({
      method: 'GET',
      url: `/v1/products/${RELEASE.product}/channels/%00/current`,
    });
    expect(current.statusCode).toBe(400);
  });
});
