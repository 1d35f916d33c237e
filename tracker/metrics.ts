import { Counter, Gauge, Registry } from 'prom-client';

/** Prometheus metrics on a per-app Registry (several trackers in one process must not collide). */
export interface TrackerMetrics {
  registry: Registry;
  announces: Counter<'api' | 'event'>;
  errors: Counter<'code'>;
  reportBytes: Counter<'source'>;
  peersReturned: Counter<'tier'>;
  edges: Gauge;
}

export function createTrackerMetrics(): TrackerMetrics {
  const registry = new Registry();
  return {
    registry,
    announces: new Counter({
      name: 'swarmlane_tracker_announces_total',
      help: 'Announces answered, by API (bt = standard BitTorrent, v1 = agent) and event.',
      labelNames: ['api', 'event'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'swarmlane_tracker_errors_total',
      help: 'Requests refused, by error code.',
      labelNames: ['code'],
      registers: [registry],
    }),
    reportBytes: new Counter({
      name: 'swarmlane_tracker_reported_bytes_total',
      help: 'Bytes devices reported receiving, by source class (peer-same-isp, peer-other-isp, edge, cdn) or uploaded.',
      labelNames: ['source'],
      registers: [registry],
    }),
    peersReturned: new Counter({
      name: 'swarmlane_tracker_peers_returned_total',
      help: 'Peers handed out to agents, by locality tier.',
      labelNames: ['tier'],
      registers: [registry],
    }),
    edges: new Gauge({
      name: 'swarmlane_tracker_edges_live',
      help: 'Edges with a recent heartbeat (as of the last discovery answer).',
      registers: [registry],
    }),
  };
}
