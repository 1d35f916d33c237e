import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { clientAddress, createFastAnnounce } from '../../tracker/fast-announce.ts';
import { announceBody, HARD, makeTracker, OPEN, PUNCHABLE } from './helpers.ts';

type Tracker = ReturnType<typeof makeTracker>;
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function listening(tracker: Tracker): Promise<number> {
  await tracker.app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => tracker.app.close());
  const address = tracker.app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

interface Answer {
  status: number;
  type: string;
  body: string;
}

/** One request over real HTTP (the fast path's way in), raw body and headers as given. */
function overHttp(
  port: number,
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: text }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The same request through fastify's own pipeline (`inject` never reaches the server's fast path). */
async function injected(tracker: Tracker, path: string, body: string, headers: Record<string, string>) {
  const res = await tracker.app.inject({ method: 'POST', url: path, payload: body, headers });
  return { status: res.statusCode, type: String(res.headers['content-type']), body: res.body };
}

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('announce fast path', () => {
  it('answers exactly what the fastify route answers on the same store state, refusals included', async () => {
    // Two trackers with one seed and one history: A over HTTP (fast path), B through inject.
    const a = makeTracker({ trustProxy: true }, { seed: 7 });
    const b = makeTracker({ trustProxy: true }, { seed: 7 });
    const port = await listening(a);
    const devices = Array.from({ length: 12 }, (_, n) => ({
      id: `device-0${n}`,
      ip: `10.${1 + (n % 4)}.0.${10 + (n % 5)}`,
      reach: [OPEN, PUNCHABLE, HARD][n % 3] as typeof OPEN,
      token: '',
    }));
    const both = async (path: string, body: string, headers: Record<string, string>) => {
      const fast = await overHttp(port, path, body, headers);
      const normal = await injected(b, path, body, headers);
      expect(fast).toEqual(normal);
      return fast;
    };
    const send = (d: (typeof devices)[number], extra: object = {}) =>
      both(
        '/v1/announce',
        JSON.stringify({
          ...announceBody(d.id, { reachability: d.reach, numwant: 8 }),
          ...(d.token ? { deviceToken: d.token } : {}),
          ...extra,
        }),
        { ...JSON_HEADERS, 'x-forwarded-for': `${d.ip}, 10.9.9.9` },
      );
    for (const round of [0, 1, 2])
      for (const d of devices) {
        const extra =
          round === 2 && d.id === 'device-03'
            ? { event: 'stopped' }
            : round === 1 && d.id === 'device-04'
              ? { progress: { have: 3, bitfield: 'AAAA' }, tcpPort: 6881, load: 0.5 }
              : {};
        const answer = await send(d, extra);
        expect(answer.status).toBe(200);
        const parsed = JSON.parse(answer.body) as { deviceToken?: string; you: { publicIp: string } };
        expect(parsed.you.publicIp).toBe(d.ip);
        if (parsed.deviceToken) d.token = parsed.deviceToken;
      }
    const d0 = devices[0] as (typeof devices)[number];
    const good = announceBody('device-00', { deviceToken: d0.token });
    const refusals: Array<[string, string, number, string]> = [
      ['empty body', '', 400, 'BAD_REQUEST'],
      ['not JSON', '{"deviceId":', 400, 'BAD_REQUEST'],
      ['prototype poisoning', '{"__proto__":{"admin":true}}', 400, 'BAD_REQUEST'],
      ['schema', JSON.stringify({ ...good, deviceId: '../etc' }), 400, 'BAD_REQUEST'],
      ['missing key', JSON.stringify({ ...good, publicKey: undefined }), 400, 'BAD_REQUEST'],
      ['numwant', JSON.stringify({ ...good, numwant: -1 }), 400, 'BAD_REQUEST'],
      ['release', JSON.stringify({ ...good, release: 'nope@1.0.0' }), 404, 'RELEASE_UNKNOWN'],
      ['token', JSON.stringify({ ...good, deviceToken: 'A'.repeat(32) }), 403, 'DEVICE_ID_TAKEN'],
      ['stolen id', JSON.stringify(announceBody('device-01')), 403, 'DEVICE_ID_TAKEN'],
    ];
    for (const [what, body, status, code] of refusals) {
      const answer = await both('/v1/announce', body, { ...JSON_HEADERS, 'x-forwarded-for': d0.ip });
      expect([what, answer.status, JSON.parse(answer.body).error.code]).toEqual([what, status, code]);
    }
    // Requests the fast path leaves to fastify still get fastify's answers.
    const textPlain = await both('/v1/announce', JSON.stringify(good), { 'content-type': 'text/plain' });
    expect(textPlain.status).toBe(400);
    // Both paths counted the same refusals.
    const errorsOf = async (t: Tracker) =>
      (await t.app.inject({ method: 'GET', url: '/metrics' })).body
        .split('\n')
        .filter(
          (l) =>
            l.startsWith('swarmlane_tracker_errors_total') ||
            l.startsWith('swarmlane_tracker_peers_returned_total'),
        );
    const metricsA = await errorsOf(a);
    expect(metricsA.filter((l) => l.includes('BAD_REQUEST'))).not.toEqual([]);
    expect(metricsA).toEqual(await errorsOf(b));
  });

  it('shares the rate limiter with the fastify routes', async () => {
    const t = makeTracker({ trustProxy: true, rateLimit: { perSecond: 0.001, burst: 2, maxClients: 10 } });
    const port = await listening(t);
    const headers = { ...JSON_HEADERS, 'x-forwarded-for': '10.1.0.5' };
    const first = await overHttp(port, '/v1/announce', JSON.stringify(announceBody('device-a1')), headers);
    expect(first.status).toBe(200);
    const body = JSON.stringify(
      announceBody('device-a1', { deviceToken: JSON.parse(first.body).deviceToken }),
    );
    expect((await overHttp(port, '/v1/announce', body, headers)).status).toBe(200);
    const limited = await overHttp(port, '/v1/announce', body, headers);
    expect([limited.status, JSON.parse(limited.body).error.code]).toEqual([429, 'RATE_LIMITED']);
    // The same budget covers fastify's routes (one limiter), and another address still has its own.
    expect((await overHttp(port, '/v1/report', '{}', headers)).status).toBe(429);
    const other = { ...JSON_HEADERS, 'x-forwarded-for': '10.1.0.6' };
    expect(
      (await overHttp(port, '/v1/announce', JSON.stringify(announceBody('device-b1')), other)).status,
    ).toBe(200);
  });

  it('takes only plain JSON announces and leaves everything else to fastify', () => {
    const taken: string[] = [];
    const handle = createFastAnnounce({
      announce: async () => '{}',
      validate: Object.assign(() => true, { errors: null }),
      parseJson: (_r, _b, done) => done(null, {}),
      limiter: null,
      trustProxy: false,
      bodyLimit: 1000,
      refusal: () => ({ status: 500, contentType: null, body: { error: { code: 'INTERNAL', message: '' } } }),
    });
    const attempt = (what: string, method: string, url: string, headers: Record<string, string>) => {
      const req = { method, url, headers, socket: { remoteAddress: '127.0.0.1' }, on: () => req };
      if (handle(req as unknown as IncomingMessage, {} as ServerResponse)) taken.push(what);
    };
    const plain = { 'content-type': 'application/json', 'content-length': '10' };
    attempt('plain', 'POST', '/v1/announce', plain);
    attempt('charset', 'POST', '/v1/announce', {
      ...plain,
      'content-type': 'application/json; charset=utf-8',
    });
    attempt('get', 'GET', '/v1/announce', plain);
    attempt('query', 'POST', '/v1/announce?x=1', plain);
    attempt('other route', 'POST', '/v1/report', plain);
    attempt('text', 'POST', '/v1/announce', { ...plain, 'content-type': 'text/plain' });
    attempt('chunked', 'POST', '/v1/announce', {
      'content-type': 'application/json',
      'transfer-encoding': 'chunked',
    });
    attempt('gzip', 'POST', '/v1/announce', { ...plain, 'content-encoding': 'gzip' });
    attempt('too large', 'POST', '/v1/announce', { ...plain, 'content-length': '1001' });
    expect(taken).toEqual(['plain', 'charset']);
  });

  it('reads the client address as fastify does with trustProxy', async () => {
    const app = Fastify({ trustProxy: true });
    app.get('/ip', async (request) => request.ip);
    const cases = [
      '10.1.0.1',
      '10.1.0.1, 10.2.0.2',
      ' \t10.1.0.1 ,10.2.0.2',
      ',, 10.3.0.3',
      '',
      ' , ',
      'a b, c',
    ];
    for (const xff of cases) {
      const res = await app.inject({ method: 'GET', url: '/ip', headers: { 'x-forwarded-for': xff } });
      const req = { headers: { 'x-forwarded-for': xff }, socket: { remoteAddress: '127.0.0.1' } };
      expect([xff, clientAddress(req as unknown as IncomingMessage, true)]).toEqual([xff, res.body]);
    }
    const bare = { headers: { 'x-forwarded-for': '10.1.0.1' }, socket: { remoteAddress: '127.0.0.1' } };
    expect(clientAddress(bare as unknown as IncomingMessage, false)).toBe('127.0.0.1');
    await app.close();
  });
});
