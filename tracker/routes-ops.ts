import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance } from 'fastify';
import { EdgeHeartbeatRequest, EdgeRegisterRequest, RolloutStartRequest } from './api-schema.ts';
import { requireBearer, type TrackerContext } from './context.ts';
import { toEdgeInfo } from './edges.ts';
import { TrackerError } from './errors.ts';

const NameParam = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' });
const RolloutParams = Type.Object({ product: NameParam, channel: NameParam });
type RolloutParams = { product: string; channel: string };

/** Edge registry, admin (rollout) API, metrics and health. */
export function registerOpsRoutes(app: FastifyInstance, ctx: TrackerContext): void {
  const { options } = ctx;

  app.post<{ Body: EdgeRegisterRequest }>(
    '/v1/edges',
    { schema: { body: EdgeRegisterRequest } },
    async (request) => {
      if (options.edgeToken !== null) requireBearer(request, options.edgeToken, 'edge registration');
      const edge = await ctx.edges.register(request.body);
      return { edge: toEdgeInfo(edge), heartbeatInterval: options.edges.heartbeatIntervalMs / 1000 };
    },
  );

  app.post<{ Body: EdgeHeartbeatRequest }>(
    '/v1/edges/heartbeat',
    { schema: { body: EdgeHeartbeatRequest } },
    async (request) => {
      if (options.edgeToken !== null) requireBearer(request, options.edgeToken, 'edge heartbeat');
      const edge = await ctx.edges.heartbeat(request.body.id, request.body.load);
      return { edge: toEdgeInfo(edge), heartbeatInterval: options.edges.heartbeatIntervalMs / 1000 };
    },
  );

  app.get<{ Querystring: { region?: string; limit?: number } }>(
    '/v1/edges',
    {
      schema: {
        querystring: Type.Object(
          {
            region: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const edges = await ctx.edges.best(
        request.query.region ?? null,
        request.query.limit ?? options.edgeLimit,
      );
      return { edges, heartbeatInterval: options.edges.heartbeatIntervalMs / 1000 };
    },
  );

  const currentRelease = async (params: RolloutParams) => {
    const release = await ctx.catalogue.current(params.product, params.channel);
    if (!release)
      throw new TrackerError('RELEASE_UNKNOWN', `no current release for ${params.product}/${params.channel}`);
    return release.id;
  };

  app.get<{ Params: RolloutParams }>(
    '/v1/admin/rollouts/:product/:channel',
    { schema: { params: RolloutParams } },
    async (request) => {
      requireBearer(request, options.adminToken, 'admin API');
      const { product, channel } = request.params;
      return ctx.rollout.status(product, channel, await currentRelease(request.params));
    },
  );

  // The body is optional (defaults apply), so it is checked here rather than by a route schema.
  app.post<{ Params: RolloutParams; Body: unknown }>(
    '/v1/admin/rollouts/:product/:channel/start',
    { schema: { params: RolloutParams } },
    async (request) => {
      requireBearer(request, options.adminToken, 'admin API');
      const body = request.body ?? {};
      if (!Value.Check(RolloutStartRequest, body)) {
        const first = Value.Errors(RolloutStartRequest, body).First();
        throw new TrackerError('BAD_REQUEST', `body${first?.path ?? ''} ${first?.message ?? 'is invalid'}`);
      }
      const { product, channel } = request.params;
      return ctx.rollout.start(product, channel, await currentRelease(request.params), body);
    },
  );

  for (const action of ['advance', 'pause', 'resume'] as const) {
    app.post<{ Params: RolloutParams }>(
      `/v1/admin/rollouts/:product/:channel/${action}`,
      { schema: { params: RolloutParams } },
      async (request) => {
        requireBearer(request, options.adminToken, 'admin API');
        const { product, channel } = request.params;
        return ctx.rollout[action](product, channel, await currentRelease(request.params));
      },
    );
  }

  app.get('/metrics', async (_request, reply) => {
    ctx.metrics.edges.set((await ctx.edges.live()).length);
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });

  app.get('/v1/rendezvous', async () => {
    if (!options.rendezvous) throw new TrackerError('NOT_FOUND', 'this tracker runs no rendezvous endpoint');
    return options.rendezvous;
  });

  app.get('/healthz', async () => ({ ok: true }));
}
