import { createServer, type ServerOptions } from 'node:http';
import compress from '@fastify/compress';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { createAgentAnnounce } from './announce.ts';
import { compileAnnounceValidator, TRACKER_AJV_OPTIONS } from './announce-validator.ts';
import type { TrackerComponents, TrackerContext } from './context.ts';
import { createEdgeRegistry } from './edges.ts';
import { errorAnswer } from './error-answer.ts';
import { TrackerError } from './errors.ts';
import { createFastAnnounce, type FastAnnounceHandler, type JsonBodyParser } from './fast-announce.ts';
import { createTrackerMetrics } from './metrics.ts';
import { resolveTrackerOptions, type TrackerOptions } from './options.ts';
import { createRateLimiter } from './rate-limit.ts';
import { createRolloutManager } from './rollout.ts';
import { registerAgentRoutes } from './routes-agent.ts';
import { registerBtRoutes } from './routes-bt.ts';
import { registerOpsRoutes } from './routes-ops.ts';

export interface TrackerApp {
  app: FastifyInstance;
  context: TrackerContext;
}

/**
 * Builds the tracker's fastify app without listening (tests use `app.inject`; the CLI calls
 * `app.listen`). Every refusal is a 4xx with a code from errors.ts; standard announces answer HTTP
 * 200 with a bencoded failure reason instead, as BitTorrent clients expect.
 */
export function buildTracker(options: Partial<TrackerOptions>, components: TrackerComponents): TrackerApp {
  const resolved = resolveTrackerOptions(options);
  const context: TrackerContext = {
    ...components,
    options: resolved,
    edges: createEdgeRegistry(resolved.edges, components.swarmStore, components.clock),
    rollout: createRolloutManager(resolved.rollout, components.swarmStore, components.clock),
    metrics: createTrackerMetrics(),
  };
  // Set once the app exists: requests only arrive after listen().
  let fastAnnounce: FastAnnounceHandler | null = null;
  const app = Fastify({
    logger: false,
    bodyLimit: resolved.bodyLimit,
    trustProxy: resolved.trustProxy,
    ajv: { customOptions: { ...TRACKER_AJV_OPTIONS } },
    // The server fastify would make (same timeouts), with the announce fast path in front.
    serverFactory: (handler, serverOptions) => {
      const o = serverOptions as unknown as ServerOptions & {
        http?: ServerOptions;
        keepAliveTimeout: number;
        requestTimeout: number;
        connectionTimeout: number;
        maxRequestsPerSocket?: number;
      };
      const server = createServer(o.http ?? {}, (request, response) => {
        if (fastAnnounce === null || !fastAnnounce(request, response)) handler(request, response);
      });
      server.keepAliveTimeout = o.keepAliveTimeout;
      server.requestTimeout = o.requestTimeout;
      server.timeout = o.connectionTimeout; // the idle-socket timeout fastify sets on its own server
      if ((o.maxRequestsPerSocket ?? 0) > 0) server.maxRequestsPerSocket = o.maxRequestsPerSocket as number;
      return server;
    },
  });
  const log = components.logger.child({ component: 'tracker' });
  // JSON answers compressed for clients that offer it (fetch does): the current-release answer with
  // its first peer list is ~10 KB of JSON and ~2.3 KB gzipped, and devices on lossy mobile links pay
  // for every byte at TCP's loss-limited rate (2 % loss at 250 ms RTT: ~50 KB/s). Small answers
  // (most announces, errors) stay as they are: below a kilobyte gzip buys less than it costs. The
  // announce fast path (fast-announce.ts) answers uncompressed: its answers are 1-2 KB.
  void app.register(compress, { global: true, threshold: 1024, encodings: ['gzip', 'deflate'] });

  const limiter = resolved.rateLimit ? createRateLimiter(resolved.rateLimit, components.clock) : null;
  if (limiter) {
    app.addHook('onRequest', async (request) => {
      if (!limiter.allow(request.ip)) throw new TrackerError('RATE_LIMITED', 'too many requests; slow down');
    });
  }

  app.setErrorHandler((error: FastifyError | TrackerError, request, reply) => {
    const answer = errorAnswer(error, request.url, context.metrics, log);
    reply.code(answer.status);
    if (answer.contentType !== null) reply.header('content-type', answer.contentType);
    return reply.send(answer.body);
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` },
    });
  });

  const announce = createAgentAnnounce(context);
  const validate = compileAnnounceValidator();
  fastAnnounce = createFastAnnounce({
    announce,
    validate,
    parseJson: app.getDefaultJsonParser('error', 'error') as unknown as JsonBodyParser,
    limiter,
    trustProxy: resolved.trustProxy,
    bodyLimit: resolved.bodyLimit,
    refusal: (error, url) => errorAnswer(error, url, context.metrics, log),
  });

  // Once closing, every request goes through fastify again, which answers 503 as it does on its routes.
  app.addHook('preClose', async () => {
    fastAnnounce = null;
  });

  // The routes load after the compression plugin (fastify loads plugins in order), so its hook
  // reaches them; the error and not-found handlers above are the root's and still apply.
  void app.register(async (routes) => {
    registerBtRoutes(routes, context);
    registerAgentRoutes(routes, context, { announce, validate });
    registerOpsRoutes(routes, context);
  });
  return { app, context };
}
