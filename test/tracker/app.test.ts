import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../../runtime/index.ts';
import type { AnnounceResponse } from '../../tracker/api-schema.ts';
import { createMemorySwarmStore } from '../../tracker/memory-store.ts';
import type { SwarmStore } from '../../tracker/swarm-store.ts';
import { announceBody, HARD, makeTracker, OTHER_RELEASE, PUNCHABLE, RELEASE } from './helpers.ts';

async function announce(
  app: ReturnType<typeof makeTracker>['app'],
  ip: string,
  body: ReturnType<typeof announceBody>,
) {
  return app.inject({ method: 'POST', url: '/v1/announce', payload: body, remoteAddress: ip });
}

describe('agent API: announce', () => {
  it('issues a device token on first announce and refuses another device claiming the id', async () => {
    const { app } = makeTracker();
    const first = await announce(app, '10.1.0.1', announceBody('device-0001'));
    expect(first.statusCode).toBe(200);
    const token = (first.json() as AnnounceResponse).deviceToken;
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);

    const again = await announce(app, '10.1.0.1', announceBody('device-0001', { deviceToken: token }));
    expect(again.statusCode).toBe(200);
    expect((again.json() as AnnounceResponse).deviceToken).toBeUndefined();

    const thief = await announce(app, '10.3.0.9', announceBody('device-0001'));
    expect(thief.statusCode).toBe(403);
    expect(thief.json().error.code).toBe('DEVICE_ID_TAKEN');
    const forged = await announce(
      app,
      '10.3.0.9',
      announceBody('device-0001', { deviceToken: 'x'.repeat(32) }),
    );
    expect(forged.json().error.code).toBe('DEVICE_ID_TAKEN');
  });

  it('frees a new device id when its first announce fails before the token reaches the device', async () => {
    const store = createMemorySwarmStore({ random: createSeededRandom(3), now: () => 0 });
    let failNext = true;
    const flaky: SwarmStore = {
      ...store,
      upsertPeer: (...args) => {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('store hiccup'));
        }
        return store.upsertPeer(...args);
      },
    };
    const { app } = makeTracker({}, { store: flaky });
    const failed = await announce(app, '10.1.0.1', announceBody('device-0042'));
    expect(failed.statusCode).toBe(500);
    const retry = await announce(app, '10.1.0.1', announceBody('device-0042'));
    expect(retry.statusCode).toBe(200);
    expect((retry.json() as AnnounceResponse).deviceToken).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('ranks same public address, then same ISP and region, and shows LAN candidates only on the LAN', async () => {
    const { app } = makeTracker();
    await announce(app, '10.1.0.1', announceBody('lan-peer-01', { progress: { have: 40 } }));
    await announce(app, '10.1.5.5', announceBody('isp-region-1'));
    await announce(app, '10.2.5.5', announceBody('isp-other-r1'));
    await announce(app, '10.3.5.5', announceBody('region-only1'));
    await announce(app, '10.4.5.5', announceBody('far-away-001'));
    const res = await announce(app, '10.1.0.1', announceBody('requester-01'));
    const body = res.json() as AnnounceResponse;
    const tiers = Object.fromEntries(body.peers.map((p) => [p.deviceId, p.tier]));
    expect(tiers).toEqual({
      'lan-peer-01': 'lan',
      'isp-region-1': 'isp-region',
      'isp-other-r1': 'isp',
      'region-only1': 'region',
      'far-away-001': 'internet',
    });
    expect(body.peers[0]?.deviceId).toBe('lan-peer-01');
    expect(body.peers[0]?.reachableHow).toBe('lan');
    expect(body.peers[0]?.candidates.some((c) => c.type === 'host')).toBe(true);
    expect(body.peers[1]?.candidates.some((c) => c.type === 'host')).toBe(false);
    expect(body.you).toMatchObject({ isp: 'isp-a', region: 'eu', publicIp: '10.1.0.1', reach: 'open' });
    expect(body.swarm).toEqual({ seeders: 1, leechers: 5 });
    expect(body.interval).toBe(30); // young swarm
  });

  it('never hands a hard-NAT device another hard-NAT device, and never leaks other releases', async () => {
    const { app } = makeTracker();
    await announce(app, '10.1.0.2', announceBody('hard-peer-01', { reachability: HARD }));
    await announce(app, '10.1.0.3', announceBody('punch-peer-1', { reachability: PUNCHABLE }));
    await announce(app, '10.1.0.4', announceBody('open-peer-01'));
    await announce(app, '10.1.0.5', announceBody('other-rel-01', { release: OTHER_RELEASE.id }));
    const hard = (
      await announce(app, '10.1.0.9', announceBody('hard-req-001', { reachability: HARD }))
    ).json();
    expect(hard.peers.map((p: { deviceId: string }) => p.deviceId)).toEqual(['open-peer-01']);
    const punch = (
      await announce(app, '10.1.0.8', announceBody('punch-req-01', { reachability: PUNCHABLE }))
    ).json();
    expect(punch.peers.map((p: { deviceId: string }) => p.deviceId)).toEqual([
      'punch-peer-1',
      'open-peer-01',
    ]);
    expect(punch.peers[0].reachableHow).toBe('punch');
  });

  it('honours the product peering scope', async () => {
    const { app } = makeTracker({ scopes: { [RELEASE.product]: 'isp' } });
    await announce(app, '10.2.0.1', announceBody('same-isp-01'));
    await announce(app, '10.3.0.1', announceBody('other-isp-01'));
    const body = (await announce(app, '10.1.0.1', announceBody('requester-01'))).json();
    expect(body.peers.map((p: { deviceId: string }) => p.deviceId)).toEqual(['same-isp-01']);
  });

  it('removes a stopped device and expires silent ones', async () => {
    const { app, clock } = makeTracker({ peerTtlSec: 60 });
    await announce(app, '10.1.0.1', announceBody('leaving-0001'));
    await announce(app, '10.1.0.2', announceBody('silent-00001'));
    const first = (await announce(app, '10.1.0.3', announceBody('watcher-0001'))).json();
    const token = first.deviceToken;
    expect(first.peers).toHaveLength(2);
    const stop = (
      await announce(
        app,
        '10.1.0.1',
        announceBody('leaving-0001', { event: 'stopped', deviceToken: undefined }),
      )
    ).statusCode;
    expect(stop).toBe(403); // must present its token
    clock.advance(61_000);
    const later = (
      await announce(app, '10.1.0.3', announceBody('watcher-0001', { deviceToken: token }))
    ).json();
    expect(later.peers).toEqual([]);
  });

  it('rejects malformed bodies with a stable code and never 5xx', async () => {
    const { app } = makeTracker();
    const cases: unknown[] = [
      {},
      { ...announceBody('device-0001'), port: 70000 },
      { ...announceBody('device-0001'), publicKey: 'nope' },
      { ...announceBody('device-0001'), release: 'no-version' },
      { ...announceBody('dev'), numwant: 5 },
      { ...announceBody('device-0001'), numwant: 1e12 },
      { ...announceBody('device-0001'), extra: 1 },
    ];
    for (const payload of cases) {
      const res = await app.inject({ method: 'POST', url: '/v1/announce', payload: payload as object });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('BAD_REQUEST');
    }
    const unknown = await announce(app, '10.1.0.1', announceBody('device-0001', { release: 'ghost@9.9.9' }));
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('RELEASE_UNKNOWN');
    const junk = await app.inject({
      method: 'POST',
      url: '/v1/announce',
      headers: { 'content-type': 'application/json' },
      payload: '{"deviceId":',
    });
    expect(junk.statusCode).toBe(400);
    const big = await app.inject({
      method: 'POST',
      url: '/v1/announce',
      payload: { x: 'a'.repeat(300_000) },
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const missing = await app.inject({ method: 'GET', url: '/nope' });
    expect(missing.json().error.code).toBe('NOT_FOUND');
  });

  it('rate-limits a flooding address with 429 RATE_LIMITED', async () => {
    const { app } = makeTracker({ rateLimit: { perSecond: 1, burst: 5, maxClients: 10 } });
    const codes: number[] = [];
    for (let i = 0; i < 8; i++)
      codes.push(
        (await app.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.9.9.9' })).statusCode,
      );
    expect(codes.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(codes.slice(5)).toEqual([429, 429, 429]);
    const other = await app.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.9.9.8' });
    expect(other.statusCode).toBe(200);
  });

  it('offers rarest pieces the requester lacks and CDN URLs', async () => {
    const { app } = makeTracker({ cdnBaseUrls: ['https://cdn.example/'] });
    const bits = (set: number[]) => {
      const b = Buffer.alloc(5);
      for (const i of set) b[i >> 3] = (b[i >> 3] as number) | (0x80 >> (i & 7));
      return b.toString('base64');
    };
    const all = Array.from({ length: 40 }, (_, i) => i);
    await announce(
      app,
      '10.1.0.1',
      announceBody('peer-a-0001', { progress: { have: 39, bitfield: bits(all.filter((i) => i !== 7)) } }),
    );
    await announce(
      app,
      '10.1.0.2',
      announceBody('peer-b-0001', {
        progress: { have: 38, bitfield: bits(all.filter((i) => i !== 7 && i !== 3)) },
      }),
    );
    const res = (
      await announce(
        app,
        '10.1.0.3',
        announceBody('req-00000001', { progress: { have: 1, bitfield: bits([3]) } }),
      )
    ).json();
    expect(res.rarePieces.slice(0, 2)).toEqual([7, 0]);
    expect(res.rarePieces).not.toContain(3);
    expect(res.cdnUrls).toEqual([`https://cdn.example/${RELEASE.objectKey}`]);
  });

  it('shortens the announce interval only while the swarm is young', async () => {
    const { app, clock } = makeTracker({
      youngSwarmSec: 600,
      youngIntervalSec: 30,
      announceIntervalSec: 900,
    });
    const first = (await announce(app, '10.1.0.1', announceBody('early-device'))).json();
    expect(first.interval).toBe(30);
    clock.advance(601_000);
    const later = (await announce(app, '10.1.0.2', announceBody('later-device'))).json();
    expect(later.interval).toBe(900);
    expect(later.minInterval).toBe(10);
  });

  it('does not file devices whose policy forbids uploading, but counts them', async () => {
    const { app } = makeTracker();
    await announce(
      app,
      '10.1.0.1',
      announceBody('on-battery-1', { state: { uploadAllowed: false, charging: false } }),
    );
    await announce(app, '10.1.0.2', announceBody('no-capacity1', { uploadCapacity: 0 }));
    const res = (await announce(app, '10.1.0.3', announceBody('requester-01'))).json();
    expect(res.peers).toEqual([]);
    expect(res.swarm.leechers).toBe(3);
  });
});
