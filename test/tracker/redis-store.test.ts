import { afterAll, beforeAll } from 'vitest';
import { createRedisSwarmStore } from '../../tracker/redis-store.ts';
import { startRedis, type TestRedis } from './redis-server.ts';
import { runSwarmStoreCompliance } from './swarm-store-compliance.ts';

let redis: TestRedis;
let run = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

runSwarmStoreCompliance('redis', async () => {
  const now = { value: 1_000_000 };
  // A fresh key prefix per test keeps tests independent on one server.
  return { store: createRedisSwarmStore({ url: redis.url, prefix: `t${run++}:` }), now };
});
