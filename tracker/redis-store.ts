import { Redis } from 'ioredis';
import type { ClaimResult, EdgeRecord, PeerRecord, SwarmStore } from './swarm-store.ts';

/**
 * Redis swarm store, so several tracker instances share swarms, device ids, edges, rollouts and
 * counters. Layout (all under `prefix`):
 *   sw:<swarm>:peers    hash  peerId -> {"r": PeerRecord, "b": [bucket...]}
 *   sw:<swarm>:b:<name> set   peer ids of one selection bucket (sampled with SRANDMEMBER)
 *   sw:<swarm>:seen     zset  peerId -> last announce (pruning walks the oldest)
 *   sw:<swarm>:meta     hash  createdAt
 *   dev                 hash  deviceId -> token hash (HSETNX claims)
 *   edges               hash  edgeId -> EdgeRecord
 *   doc:<key>           hash  {v: version, json}; docs = set of keys
 *   cnt:<group>         hash  counters
 * Multi-key updates run as Lua scripts so a peer is never half-filed.
 */

const UPSERT = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  for _, b in ipairs(cjson.decode(old).b) do redis.call('SREM', ARGV[5] .. b, ARGV[1]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSETNX', KEYS[3], 'createdAt', ARGV[4])
for i = 6, #ARGV do redis.call('SADD', ARGV[5] .. ARGV[i], ARGV[1]) end
return redis.call('HGET', KEYS[3], 'createdAt')
`;

const REMOVE = `
local removed = 0
local ids
if ARGV[1] == 'prune' then
  ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
else
  ids = { ARGV[2] }
end
for _, id in ipairs(ids) do
  local old = redis.call('HGET', KEYS[1], id)
  if old then
    for _, b in ipairs(cjson.decode(old).b) do redis.call('SREM', ARGV[4] .. b, id) end
    redis.call('HDEL', KEYS[1], id)
    removed = removed + 1
  end
  redis.call('ZREM', KEYS[2], id)
end
return removed
`;

const PUT_DOC = `
local v = redis.call('HGET', KEYS[1], 'v')
local expected = ARGV[1]
if (v == false and expected ~= '') or (v ~= false and v ~= expected) then return 0 end
local next = (v == false) and 1 or (tonumber(v) + 1)
redis.call('HSET', KEYS[1], 'v', next, 'json', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
`;

interface Scripts {
  slUpsert(k1: string, k2: string, k3: string, ...args: (string | number)[]): Promise<string>;
  slRemove(k1: string, k2: string, ...args: (string | number)[]): Promise<number>;
  slPutDoc(k1: string, k2: string, ...args: string[]): Promise<number>;
}

export interface RedisSwarmStoreOptions {
  /** redis://host:port[/db] */
  url: string;
  /** Key prefix, so several deployments (or tests) can share one Redis. */
  prefix: string;
}

export function createRedisSwarmStore(options: RedisSwarmStoreOptions): SwarmStore {
  const redis = new Redis(options.url, {
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
  });
  redis.defineCommand('slUpsert', { numberOfKeys: 3, lua: UPSERT });
  redis.defineCommand('slRemove', { numberOfKeys: 2, lua: REMOVE });
  redis.defineCommand('slPutDoc', { numberOfKeys: 2, lua: PUT_DOC });
  const scripts = redis as unknown as Scripts;
  const p = options.prefix;
  const sw = (swarm: string) => `${p}sw:${swarm}:`;

  const parsePeer = (raw: string | null): PeerRecord | null =>
    raw === null ? null : (JSON.parse(raw) as { r: PeerRecord }).r;

  return {
    async upsertPeer(swarm, peer, buckets) {
      const base = sw(swarm);
      // Keys another store stamped on a record mean nothing here.
      const { storeKey: _slot, hostKey: _hash, ...record } = peer;
      const createdAt = await scripts.slUpsert(
        `${base}peers`,
        `${base}seen`,
        `${base}meta`,
        peer.peerId,
        JSON.stringify({ r: record, b: buckets }),
        peer.lastSeen,
        peer.lastSeen,
        `${base}b:`,
        ...buckets,
      );
      return { swarmCreatedAt: Number(createdAt) };
    },
    async removePeer(swarm, peerId) {
      const base = sw(swarm);
      await scripts.slRemove(`${base}peers`, `${base}seen`, 'one', peerId, 0, `${base}b:`);
    },
    async getPeer(swarm, peerId) {
      return parsePeer(await redis.hget(`${sw(swarm)}peers`, peerId));
    },
    async samplePeers(swarm, bucket, count) {
      if (count <= 0) return [];
      const base = sw(swarm);
      const ids = await redis.srandmember(`${base}b:${bucket}`, count);
      if (ids.length === 0) return [];
      const raws = await redis.hmget(`${base}peers`, ...ids);
      return raws.map(parsePeer).filter((r): r is PeerRecord => r !== null);
    },
    async countBucket(swarm, bucket) {
      return redis.scard(`${sw(swarm)}b:${bucket}`);
    },
    async pruneSwarm(swarm, cutoff, max) {
      const base = sw(swarm);
      return scripts.slRemove(`${base}peers`, `${base}seen`, 'prune', cutoff, max, `${base}b:`);
    },
    async claimDevice(deviceId, tokenHash): Promise<ClaimResult> {
      if ((await redis.hsetnx(`${p}dev`, deviceId, tokenHash)) === 1) return 'created';
      return (await redis.hget(`${p}dev`, deviceId)) === tokenHash ? 'ok' : 'mismatch';
    },
    async releaseDevice(deviceId, tokenHash) {
      // Compare-and-delete in one step, so a claim another instance made meanwhile is never dropped.
      await redis.eval(
        "if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('hdel', KEYS[1], ARGV[1]) end return 0",
        1,
        `${p}dev`,
        deviceId,
        tokenHash,
      );
    },
    async putEdge(edge) {
      await redis.hset(`${p}edges`, edge.id, JSON.stringify(edge));
    },
    async getEdge(id) {
      const raw = await redis.hget(`${p}edges`, id);
      return raw === null ? null : (JSON.parse(raw) as EdgeRecord);
    },
    async listEdges() {
      const all = await redis.hvals(`${p}edges`);
      return all.map((raw) => JSON.parse(raw) as EdgeRecord);
    },
    async removeEdge(id) {
      await redis.hdel(`${p}edges`, id);
    },
    async getDocument<T>(key: string) {
      const [v, json] = await redis.hmget(`${p}doc:${key}`, 'v', 'json');
      if (v === null || v === undefined || json === null || json === undefined) return null;
      return { value: JSON.parse(json) as T, version: Number(v) };
    },
    async putDocument(key, value, expectedVersion) {
      const ok = await scripts.slPutDoc(
        `${p}doc:${key}`,
        `${p}docs`,
        expectedVersion === null ? '' : String(expectedVersion),
        JSON.stringify(value),
        key,
      );
      return ok === 1;
    },
    async listDocuments(prefix) {
      const keys = await redis.smembers(`${p}docs`);
      return keys.filter((k) => k.startsWith(prefix)).sort();
    },
    async addCounters(group, deltas) {
      const entries = Object.entries(deltas);
      if (entries.length === 0) return;
      const pipeline = redis.pipeline();
      for (const [field, delta] of entries) pipeline.hincrby(`${p}cnt:${group}`, field, delta);
      await pipeline.exec();
    },
    async getCounters(group) {
      const raw = await redis.hgetall(`${p}cnt:${group}`);
      return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
