import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import type { PieceCacheStats } from './piece-cache.ts';
import type { PieceProviderStats } from './pieces.ts';

/**
 * Prometheus metrics of an edge, read from the components' own counters at scrape time (nothing to
 * keep in sync), served with /healthz by a small fastify app on the edge's HTTP port.
 */
export interface EdgeMetricsSources {
  server: () => {
    sessions: number;
    sessionsRefused: number;
    requests: number;
    requestsFailed: Record<string, number>;
    busyAnswers: number;
    bytesSent: number;
    initsAnswered: number;
    stunAnswered: number;
  };
  load: () => number;
  pieces: () => PieceProviderStats;
  cache: () => PieceCacheStats;
}

export function createEdgeMetricsRegistry(sources: EdgeMetricsSources): Registry {
  const registry = new Registry();
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge('swarmlane_edge_sessions', 'PZ sessions being served', () => sources.server().sessions);
  gauge('swarmlane_edge_load', 'Load reported to the tracker (0..1)', sources.load);
  counter(
    'swarmlane_edge_sessions_refused_total',
    'Sessions refused because the edge was full',
    () => sources.server().sessionsRefused,
  );
  counter('swarmlane_edge_requests_total', 'Piece requests received', () => sources.server().requests);
  counter('swarmlane_edge_busy_total', 'Requests answered BUSY', () => sources.server().busyAnswers);
  counter(
    'swarmlane_edge_bytes_sent_total',
    'Piece bytes handed to the transport',
    () => sources.server().bytesSent,
  );
  counter(
    'swarmlane_edge_inits_total',
    'One-round-trip init probes answered',
    () => sources.server().initsAnswered,
  );
  counter('swarmlane_edge_stun_total', 'STUN binding requests answered', () => sources.server().stunAnswered);
  new Counter({
    name: 'swarmlane_edge_request_errors_total',
    help: 'Piece requests answered with an error frame, by code',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, n] of Object.entries(sources.server().requestsFailed)) this.inc({ code }, n);
    },
  });
  counter(
    'swarmlane_edge_origin_reads_total',
    'Piece reads from the origin',
    () => sources.pieces().originReads,
  );
  counter(
    'swarmlane_edge_origin_bytes_total',
    'Bytes read from the origin',
    () => sources.pieces().originBytes,
  );
  counter(
    'swarmlane_edge_origin_corrupt_total',
    'Origin answers that failed their hash',
    () => sources.pieces().originCorrupt,
  );
  counter(
    'swarmlane_edge_cache_hits_total',
    'Pieces served from cache (memory or disk)',
    () => sources.pieces().cacheHits,
  );
  counter(
    'swarmlane_edge_cache_corrupt_total',
    'Cached pieces found corrupt and dropped',
    () => sources.cache().corrupt,
  );
  counter(
    'swarmlane_edge_cache_evictions_total',
    'Pieces evicted from the disk cache',
    () => sources.cache().evictions,
  );
  gauge('swarmlane_edge_cache_bytes', 'Bytes in the disk piece cache', () => sources.cache().bytes);
  gauge(
    'swarmlane_edge_cache_capacity_bytes',
    'Byte cap of the disk piece cache',
    () => sources.cache().capacityBytes,
  );
  return registry;
}

export function createEdgeHttpApp(
  registry: Registry,
  health: () => Record<string, unknown>,
): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  app.get('/healthz', async () => ({ ok: true, ...health() }));
  return app;
}
