import type { Address, Clock, HttpClient, Logger, TimerHandle } from '../runtime/index.ts';
import { EdgeError } from './errors.ts';

/**
 * The edge's side of the tracker's edge registry (tracker/routes-ops.ts):
 *   POST /v1/edges            { id, address, publicKey (base64 raw X25519), region, capacity (bytes/s), load }
 *   POST /v1/edges/heartbeat  { id, load }            -> 404 EDGE_UNKNOWN means "register again"
 *   GET  /v1/edges?region=&limit=                      -> { edges: EdgeInfo[], heartbeatInterval (s) }
 * The heartbeat loop also refreshes the edge list, which is where "better edges" in an init reply
 * come from: new edges take traffic within one heartbeat, no DNS in the path.
 */
export interface TrackerEdgeInfo {
  id: string;
  address: Address;
  /** Base64 of the raw 32-byte X25519 static key. */
  publicKey: string;
  region: string;
  /** 0..1 */
  load: number;
  /** Egress capacity in bytes per second, 0 when unknown. */
  capacity: number;
}

export interface TrackerClient {
  register(edge: TrackerEdgeInfo): Promise<{ heartbeatIntervalMs: number }>;
  /** Returns null when the tracker no longer knows the edge (it must register again). */
  heartbeat(id: string, load: number): Promise<{ heartbeatIntervalMs: number } | null>;
  listEdges(region: string | null, limit: number): Promise<TrackerEdgeInfo[]>;
}

export function createTrackerClient(
  options: { trackerUrl: string; token?: string },
  components: { http: HttpClient },
): TrackerClient {
  const base = options.trackerUrl.replace(/\/+$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const response = await components.http.request({
      method,
      url: `${base}${path}`,
      headers: method === 'POST' ? headers : { ...headers, 'content-type': 'text/plain' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json: unknown = null;
    try {
      json = JSON.parse(new TextDecoder().decode(response.body));
    } catch {
      // non-JSON error bodies are reported by status below
    }
    return { status: response.status, json: json as Record<string, unknown> | null };
  };
  const fail = (what: string, status: number, json: Record<string, unknown> | null): EdgeError =>
    new EdgeError(
      'TRACKER_REJECTED',
      `tracker ${what}: HTTP ${status}${json?.message ? ` ${String(json.message)}` : ''}`,
    );
  const interval = (json: Record<string, unknown> | null): number =>
    Number(json?.heartbeatInterval ?? 10) * 1000;
  return {
    async register(edge) {
      const { status, json } = await call('POST', '/v1/edges', edge);
      if (status !== 200) throw fail('refused registration', status, json);
      return { heartbeatIntervalMs: interval(json) };
    },
    async heartbeat(id, load) {
      const { status, json } = await call('POST', '/v1/edges/heartbeat', { id, load: clampLoad(load) });
      if (status === 404) return null;
      if (status !== 200) throw fail('refused heartbeat', status, json);
      return { heartbeatIntervalMs: interval(json) };
    },
    async listEdges(region, limit) {
      const query = new URLSearchParams({ limit: String(limit) });
      if (region) query.set('region', region);
      const { status, json } = await call('GET', `/v1/edges?${query}`);
      if (status !== 200) throw fail('refused edge list', status, json);
      return (json?.edges as TrackerEdgeInfo[] | undefined) ?? [];
    },
  };
}

export function clampLoad(load: number): number {
  return Math.min(1, Math.max(0, Number.isFinite(load) ? load : 1));
}

/**
 * Keeps an edge registered: registers, heartbeats at the interval the tracker asks for, re-registers
 * when the tracker forgot it, and refreshes the list of other edges. Failures are logged and retried
 * at the next beat; the edge keeps serving whatever the tracker does.
 */
export interface TrackerAnnouncer {
  start(): void;
  stop(): void;
  /** Other live edges as last seen (self excluded), best first. */
  peers(): TrackerEdgeInfo[];
  /** Runs one beat now (tests, and the first registration). */
  beat(): Promise<void>;
}

export function createTrackerAnnouncer(
  options: { self: () => TrackerEdgeInfo; peerLimit?: number },
  components: { client: TrackerClient; clock: Clock; logger: Logger },
): TrackerAnnouncer {
  const { client, clock, logger } = components;
  let registered = false;
  let intervalMs = 10_000;
  let timer: TimerHandle | undefined;
  let running = false;
  let peers: TrackerEdgeInfo[] = [];

  const beat = async (): Promise<void> => {
    const self = options.self();
    try {
      if (!registered) {
        intervalMs = (await client.register(self)).heartbeatIntervalMs;
        registered = true;
        logger.info({ tracker: true, id: self.id }, 'registered with tracker');
      } else {
        const answer = await client.heartbeat(self.id, self.load);
        if (answer) intervalMs = answer.heartbeatIntervalMs;
        else {
          registered = false;
          intervalMs = (await client.register(self)).heartbeatIntervalMs;
          registered = true;
        }
      }
      const listed = await client.listEdges(self.region, (options.peerLimit ?? 8) + 1);
      peers = listed.filter((edge) => edge.id !== self.id);
    } catch (error) {
      logger.warn({ err: error }, 'tracker heartbeat failed; retrying at the next beat');
    }
  };

  const schedule = (): void => {
    if (!running) return;
    // Beat a little early (0.8 x interval) so one slow round trip never lets the registration lapse.
    timer = clock.setTimer(Math.max(100, intervalMs * 0.8), () => {
      void beat().finally(schedule);
    });
  };

  return {
    beat,
    peers: () => peers,
    start() {
      if (running) return;
      running = true;
      void beat().finally(schedule);
    },
    stop() {
      running = false;
      if (timer) clock.clearTimer(timer);
    },
  };
}
