import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { type AgentAnnounce, cdnUrlsFor } from './announce.ts';
import {
  AnnounceRequest,
  CurrentReleaseQuery,
  type CurrentReleaseResponse,
  ReleaseIdString,
  ReportRequest,
} from './api-schema.ts';
import { agentSwarm, authenticateDevice, type TrackerContext } from './context.ts';
import { TrackerError } from './errors.ts';
import type { BodyValidator } from './fast-announce.ts';
import { resolveLocality } from './locality.ts';
import { recordReport, releaseStats } from './stats.ts';

const NameParam = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' });

/** The announce function and body validator the app shares with its fast path (fast-announce.ts). */
export interface AnnounceRouteParts {
  announce: AgentAnnounce;
  validate: BodyValidator;
}

export function registerAgentRoutes(
  app: FastifyInstance,
  ctx: TrackerContext,
  parts: AnnounceRouteParts,
): void {
  const { options, swarmStore: store } = ctx;
  const { announce, validate } = parts;
  // The answer is written by announce-json.ts (cached per-peer fragments), so no response schema here;
  // AnnounceResponse in api-schema.ts is the contract and the tests hold the text to it.
  app.post<{ Body: AnnounceRequest }>(
    '/v1/announce',
    {
      schema: { body: AnnounceRequest },
      validatorCompiler: (() => validate) as FastifySchemaCompiler<unknown>,
    },
    async (request, reply) => {
      const answer = await announce(request.body, request.ip);
      reply.header('content-type', 'application/json; charset=utf-8');
      return answer;
    },
  );

  app.get<{ Params: { product: string; channel: string }; Querystring: { device?: string } }>(
    '/v1/products/:product/channels/:channel/current',
    {
      schema: {
        params: Type.Object({ product: NameParam, channel: NameParam }),
        querystring: CurrentReleaseQuery,
      },
    },
    async (request) => {
      const { product, channel } = request.params;
      const release = await ctx.catalogue.current(product, channel);
      if (!release) throw new TrackerError('RELEASE_UNKNOWN', `no current release for ${product}/${channel}`);
      const rollout = await ctx.rollout.status(product, channel, release.id);
      const device = request.query.device;
      const eligible =
        device === undefined
          ? rollout.state === 'complete'
          : await ctx.rollout.isEligible(product, channel, release.id, device);
      const response: CurrentReleaseResponse = {
        product,
        channel,
        release: release.id,
        version: release.version,
        eligible,
        rollout,
        infoHash: release.infoHash,
        manifestKey: release.manifestKey,
        cdnUrls: cdnUrlsFor(ctx, release.objectKey),
      };
      return response;
    },
  );

  app.post<{ Body: ReportRequest }>(
    '/v1/report',
    { schema: { body: ReportRequest } },
    async (request, reply) => {
      const body = request.body;
      const release = await ctx.catalogue.byId(body.release);
      if (!release) throw new TrackerError('RELEASE_UNKNOWN', `unknown release ${body.release}`);
      await authenticateDevice(ctx, body.deviceId, body.deviceToken);
      // Attribute bytes to where the device announced from (its record carries agent hints too).
      const known = await store.getPeer(agentSwarm(release.id), body.deviceId);
      const where = known ?? resolveLocality(request.ip, options.prefixes);
      await recordReport(store, body, { isp: where.isp, region: where.region });
      ctx.metrics.reportBytes.inc({ source: 'peer-same-isp' }, body.bytes.peerSameIsp);
      ctx.metrics.reportBytes.inc({ source: 'peer-other-isp' }, body.bytes.peerOtherIsp);
      ctx.metrics.reportBytes.inc({ source: 'edge' }, body.bytes.edge);
      ctx.metrics.reportBytes.inc({ source: 'cdn' }, body.bytes.cdn);
      ctx.metrics.reportBytes.inc({ source: 'uploaded' }, body.uploaded);
      if (body.outcome === 'installed' || body.outcome === 'install-failed')
        await ctx.rollout.recordOutcome(
          release.product,
          release.channel,
          release.id,
          body.deviceId,
          body.outcome === 'installed',
        );
      reply.code(202);
      return { accepted: true };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/releases/:id/stats',
    { schema: { params: Type.Object({ id: ReleaseIdString }) } },
    async (request) => {
      const release = await ctx.catalogue.byId(request.params.id);
      if (!release) throw new TrackerError('RELEASE_UNKNOWN', `unknown release ${request.params.id}`);
      return releaseStats(store, release.id);
    },
  );
}
