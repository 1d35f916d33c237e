import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { encodeBtFailure } from './bt-protocol.ts';
import type { TrackerComponents, TrackerContext } from './context.ts';
import { createEdgeRegistry } from './edges.ts';
import { TRACKER_ERRORS, TrackerError, type TrackerErrorCode } from './errors.ts';
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
  const app = Fastify({
    logger: false,
    bodyLimit: resolved.bodyLimit,
    trustProxy: resolved.trustProxy,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });
  const log = components.logger.child({ component: 'tracker' });

  if (resolved.rateLimit) {
    const limiter = createRateLimiter(resolved.rateLimit, components.clock);
    app.addHook('onRequest', async (request) => {
      if (!limiter.allow(request.ip)) throw new TrackerError('RATE_LIMITED', 'too many requests; slow down');
    });
  }

  app.setErrorHandler((error: FastifyError | TrackerError, request, reply) => {
    let code: TrackerErrorCode;
    let message = error.message;
    if (error instanceof TrackerError) {
      code = error.code;
    } else if ((error as FastifyError).validation) {
      code = 'BAD_REQUEST';
    } else if ((error as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      code = 'PAYLOAD_TOO_LARGE';
    } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      code = 'BAD_REQUEST';
    } else {
      log.error({ err: error, url: request.url }, 'tracker request failed');
      context.metrics.errors.inc({ code: 'INTERNAL' });
      return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
    }
    context.metrics.errors.inc({ code });
    // Standard clients get failures the BitTorrent way even when a hook (rate limit) refused them.
    const path = request.url.split('?')[0];
    if (path === '/announce' || path === '/scrape') {
      return reply
        .code(200)
        .header('content-type', 'text/plain')
        .send(Buffer.from(encodeBtFailure(message, code)));
    }
    if (code === 'RATE_LIMITED') message = 'too many requests; slow down';
    return reply.code(TRACKER_ERRORS[code]).send({ error: { code, message: message.split('\n')[0] } });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` },
    });
  });

  registerBtRoutes(app, context);
  registerAgentRoutes(app, context);
  registerOpsRoutes(app, context);
  return { app, context };
}
