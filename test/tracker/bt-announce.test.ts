import bencode from 'bencode';
import { describe, expect, it } from 'vitest';
import { makeTracker, RELEASE } from './helpers.ts';

const enc = (bytes: Uint8Array) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
const INFO_HASH = Buffer.from(RELEASE.infoHash, 'hex');
const peerId = (n: number) => Buffer.from(`-AR0001-${String(n).padStart(12, '0')}`);

function url(params: Record<string, string>, path = '/announce'): string {
  return `${path}?${Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join('&')}`;
}

function announceUrl(n: number, extra: Record<string, string> = {}): string {
  return url({
    info_hash: enc(INFO_HASH),
    peer_id: enc(peerId(n)),
    port: String(6881 + n),
    left: '100',
    compact: '1',
    ...extra,
  });
}

type Decoded = Record<string, unknown>;
const decode = (body: Buffer) => bencode.decode(body) as Decoded;
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);

describe('standard BitTorrent announce', () => {
  it('answers compact peer lists a BitTorrent decoder reads, with counts', async () => {
    const { app } = makeTracker();
    await app.inject({
      method: 'GET',
      url: announceUrl(1, { left: '0', event: 'started' }),
      remoteAddress: '10.1.0.1',
    });
    await app.inject({ method: 'GET', url: announceUrl(2), remoteAddress: '10.1.0.2' });
    const res = await app.inject({ method: 'GET', url: announceUrl(3), remoteAddress: '10.1.0.3' });
    expect(res.statusCode).toBe(200);
    const body = decode(res.rawPayload);
    expect(body.complete).toBe(1);
    expect(body.incomplete).toBe(2);
    expect(body.interval).toBe(900);
    const peers = body.peers as Uint8Array;
    expect(peers.length).toBe(12);
    const list = [0, 6].map(
      (o) =>
        `${peers.slice(o, o + 4).join('.')}:${(peers[o + 4] as number) * 256 + (peers[o + 5] as number)}`,
    );
    expect(list.sort()).toEqual(['10.1.0.1:6882', '10.1.0.2:6883']);

    const full = decode(
      (await app.inject({ method: 'GET', url: announceUrl(3, { compact: '0' }), remoteAddress: '10.1.0.3' }))
        .rawPayload,
    );
    const dicts = full.peers as Decoded[];
    expect(dicts.map((d) => text(d.ip)).sort()).toEqual(['10.1.0.1', '10.1.0.2']);
    expect(dicts.every((d) => (d['peer id'] as Uint8Array).length === 20)).toBe(true);
  });

  it('keeps binary info hashes intact (bytes that are not UTF-8, + and %2B)', async () => {
    const hash = Buffer.from('ff2b20c0'.padEnd(40, '9'), 'hex');
    const { app } = makeTracker({ allowUnknownTorrents: true });
    const q = (n: number) => url({ info_hash: enc(hash), peer_id: enc(peerId(n)), port: '7000', left: '5' });
    await app.inject({ method: 'GET', url: q(1), remoteAddress: '10.1.0.1' });
    const scrape = await app.inject({ method: 'GET', url: url({ info_hash: enc(hash) }, '/scrape') });
    const files = decode(scrape.rawPayload).files as Record<string, Decoded>;
    const [key] = Object.keys(files);
    expect(Buffer.from(key as string, 'binary').length).toBeGreaterThan(0);
    expect(Object.values(files)[0]).toMatchObject({ complete: 0, incomplete: 1, downloaded: 0 });
  });

  it('answers bad input with a bencoded failure reason and HTTP 200, never a 5xx', async () => {
    const { app } = makeTracker();
    const bad: Array<[string, string]> = [
      [
        url({ info_hash: enc(INFO_HASH.subarray(0, 19)), peer_id: enc(peerId(1)), port: '1' }),
        'INFO_HASH_INVALID',
      ],
      [url({ info_hash: '%zz', peer_id: enc(peerId(1)), port: '1' }), 'BAD_REQUEST'],
      [url({ peer_id: enc(peerId(1)), port: '1' }), 'INFO_HASH_INVALID'],
      [url({ info_hash: enc(INFO_HASH), peer_id: 'short', port: '1' }), 'PEER_ID_INVALID'],
      [url({ info_hash: enc(INFO_HASH), peer_id: enc(peerId(1)), port: '99999' }), 'PORT_INVALID'],
      [url({ info_hash: enc(INFO_HASH), peer_id: enc(peerId(1)) }), 'PORT_INVALID'],
      [announceUrl(1, { numwant: '-5' }), 'NUMWANT_INVALID'],
      [announceUrl(1, { numwant: 'lots' }), 'NUMWANT_INVALID'],
      [announceUrl(1, { event: 'exploded' }), 'EVENT_INVALID'],
      [announceUrl(1, { left: '-1' }), 'BAD_REQUEST'],
      [url({ info_hash: enc(Buffer.alloc(20, 1)), peer_id: enc(peerId(1)), port: '1' }), 'TORRENT_UNKNOWN'],
      [`/announce?${'a=1&'.repeat(100)}`, 'BAD_REQUEST'],
    ];
    for (const [u, code] of bad) {
      const res = await app.inject({ method: 'GET', url: u });
      expect(res.statusCode, u).toBe(200);
      const body = decode(res.rawPayload);
      expect(text(body['failure code']), u).toBe(code);
      expect(text(body['failure reason']).length).toBeGreaterThan(0);
    }
  });

  it('caps an absurd numwant instead of failing', async () => {
    const { app } = makeTracker({ btMaxNumwant: 3 });
    for (let i = 1; i <= 6; i++)
      await app.inject({ method: 'GET', url: announceUrl(i), remoteAddress: `10.1.0.${i}` });
    const res = await app.inject({
      method: 'GET',
      url: announceUrl(9, { numwant: '99999999999999' }),
      remoteAddress: '10.1.0.9',
    });
    expect((decode(res.rawPayload).peers as Uint8Array).length).toBe(18);
  });

  it('forgets stopped peers and counts completed downloads in scrape', async () => {
    const { app } = makeTracker();
    await app.inject({ method: 'GET', url: announceUrl(1), remoteAddress: '10.1.0.1' });
    await app.inject({
      method: 'GET',
      url: announceUrl(2, { left: '0', event: 'completed' }),
      remoteAddress: '10.1.0.2',
    });
    await app.inject({ method: 'GET', url: announceUrl(1, { event: 'stopped' }), remoteAddress: '10.1.0.1' });
    const scrape = await app.inject({ method: 'GET', url: url({ info_hash: enc(INFO_HASH) }, '/scrape') });
    const files = decode(scrape.rawPayload).files as Record<string, Decoded>;
    expect(Object.values(files)).toEqual([{ complete: 1, downloaded: 1, incomplete: 0 }]);
    const none = await app.inject({ method: 'GET', url: '/scrape' });
    expect(text(decode(none.rawPayload)['failure code'])).toBe('INFO_HASH_INVALID');
  });

  it('rate-limits floods with a bencoded failure', async () => {
    const { app } = makeTracker({ rateLimit: { perSecond: 1, burst: 2, maxClients: 100 } });
    let last: Decoded = {};
    for (let i = 0; i < 4; i++)
      last = decode(
        (await app.inject({ method: 'GET', url: announceUrl(1), remoteAddress: '10.1.0.1' })).rawPayload,
      );
    expect(text(last['failure reason'])).toMatch(/too many/);
  });
});
