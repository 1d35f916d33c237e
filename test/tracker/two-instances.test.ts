import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisSwarmStore } from '../../tracker/redis-store.ts';
import { announceBody, createManualClock, KEY, makeTracker, RELEASE } from './helpers.ts';
import { startRedis, type TestRedis } from './redis-server.ts';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

describe('two tracker instances on one Redis', () => {
  it('share swarms, device ids, edges and rollouts', async () => {
    const clock = createManualClock();
    const options = { adminToken: 'admin-secret' };
    const a = makeTracker(options, {
      clock,
      store: createRedisSwarmStore({ url: redis.url, prefix: 'two:' }),
    });
    const b = makeTracker(options, {
      clock,
      store: createRedisSwarmStore({ url: redis.url, prefix: 'two:' }),
    });
    try {
      const first = await a.app.inject({
        method: 'POST',
        url: '/v1/announce',
        payload: announceBody('device-on-a1'),
        remoteAddress: '10.1.0.1',
      });
      expect(first.statusCode).toBe(200);
      const seen = await b.app.inject({
        method: 'POST',
        url: '/v1/announce',
        payload: announceBody('device-on-b1'),
        remoteAddress: '10.1.0.2',
      });
      expect(seen.json().peers.map((p: { deviceId: string }) => p.deviceId)).toEqual(['device-on-a1']);

      const thief = await b.app.inject({
        method: 'POST',
        url: '/v1/announce',
        payload: announceBody('device-on-a1'),
        remoteAddress: '10.3.0.1',
      });
      expect(thief.json().error.code).toBe('DEVICE_ID_TAKEN');

      await a.app.inject({
        method: 'POST',
        url: '/v1/edges',
        payload: {
          id: 'edge-eu-1',
          address: { host: '10.1.9.9', port: 7000 },
          publicKey: KEY,
          region: 'eu',
          capacity: 1e8,
          load: 0.2,
        },
      });
      const edges = await b.app.inject({ method: 'GET', url: '/v1/edges?region=eu' });
      expect(edges.json().edges.map((e: { id: string }) => e.id)).toEqual(['edge-eu-1']);

      const auth = { authorization: 'Bearer admin-secret' };
      const start = await a.app.inject({
        method: 'POST',
        url: `/v1/admin/rollouts/${RELEASE.product}/${RELEASE.channel}/start`,
        headers: auth,
        payload: { waves: [10, 100] },
      });
      expect(start.statusCode).toBe(200);
      const status = await b.app.inject({
        method: 'GET',
        url: `/v1/admin/rollouts/${RELEASE.product}/${RELEASE.channel}`,
        headers: auth,
      });
      expect(status.json()).toMatchObject({ release: RELEASE.id, wave: 0, percent: 10, state: 'running' });
    } finally {
      await a.swarmStore.close();
      await b.swarmStore.close();
    }
  });
});
