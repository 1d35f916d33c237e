import type { Clock } from '../runtime/index.ts';
import type { EdgeInfo, EdgeRegisterRequest } from './api-schema.ts';
import { TrackerError } from './errors.ts';
import type { EdgeRecord, SwarmStore } from './swarm-store.ts';

export interface EdgeRegistryOptions {
  /** Heartbeat period edges are told to keep, ms. */
  heartbeatIntervalMs: number;
  /** Extra slack after two missed heartbeats before an edge disappears, ms (absorbs jitter). */
  graceMs: number;
}

export const DEFAULT_EDGE_REGISTRY: EdgeRegistryOptions = { heartbeatIntervalMs: 10_000, graceMs: 5_000 };

export interface EdgeRegistry {
  register(request: EdgeRegisterRequest): Promise<EdgeRecord>;
  heartbeat(id: string, load: number): Promise<EdgeRecord>;
  /** Live edges, best first: the device's region, then least loaded, then largest. */
  best(region: string | null, limit: number): Promise<EdgeInfo[]>;
  live(): Promise<EdgeRecord[]>;
}

export function createEdgeRegistry(
  options: EdgeRegistryOptions,
  store: SwarmStore,
  clock: Clock,
): EdgeRegistry {
  // An edge that missed two heartbeats (plus grace) is gone.
  const isExpired = (edge: EdgeRecord, now: number) =>
    now - edge.lastHeartbeat > 2 * options.heartbeatIntervalMs + options.graceMs;

  const live = async (): Promise<EdgeRecord[]> => {
    const now = clock.now();
    const all = await store.listEdges();
    const alive: EdgeRecord[] = [];
    for (const edge of all) {
      if (isExpired(edge, now)) await store.removeEdge(edge.id);
      else alive.push(edge);
    }
    return alive;
  };

  return {
    async register(request) {
      const now = clock.now();
      const existing = await store.getEdge(request.id);
      const edge: EdgeRecord = {
        ...request,
        registeredAt: existing && !isExpired(existing, now) ? existing.registeredAt : now,
        lastHeartbeat: now,
      };
      await store.putEdge(edge);
      return edge;
    },
    async heartbeat(id, load) {
      const now = clock.now();
      const edge = await store.getEdge(id);
      if (!edge || isExpired(edge, now)) {
        if (edge) await store.removeEdge(id);
        throw new TrackerError('EDGE_UNKNOWN', `edge "${id}" is not registered; register again`);
      }
      const updated = { ...edge, load, lastHeartbeat: now };
      await store.putEdge(updated);
      return updated;
    },
    async best(region, limit) {
      const edges = await live();
      edges.sort(
        (a, b) =>
          Number(b.region === region) - Number(a.region === region) ||
          a.load - b.load ||
          b.capacity - a.capacity ||
          a.id.localeCompare(b.id),
      );
      return edges.slice(0, limit).map(toEdgeInfo);
    },
    live,
  };
}

export function toEdgeInfo(edge: EdgeRecord): EdgeInfo {
  return {
    id: edge.id,
    address: edge.address,
    publicKey: edge.publicKey,
    region: edge.region,
    load: edge.load,
    capacity: edge.capacity,
  };
}
