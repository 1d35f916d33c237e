import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { type AgentAnnounce, cdnUrlsFor } from './announce.ts';
import {
  AnnounceRequest,
  CurrentJoinRequest,
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

  const currentRelease = async (
    product: string,
    channel: string,
    device: string | undefined,
  ): Promise<CurrentReleaseResponse> => {
    const release = await ctx.catalogue.current(product, channel);
    if (!release) throw new TrackerError('RELEASE_UNKNOWN', `no current release for ${product}/${channel}`);
    const rollout = await ctx.rollout.status(product, channel, release.id);
    const eligible =
      device === undefined
        ? rollout.state === 'complete'
        : await ctx.rollout.isEligible(product, channel, release.id, device);
    return {
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
  };
  const channelParams = Type.Object({ product: NameParam, channel: NameParam });

  app.get<{ Params: { product: string; channel: string }; Querystring: { device?: string } }>(
    '/v1/products/:product/channels/:channel/current',
    { schema: { params: channelParams, querystring: CurrentReleaseQuery } },
    async (request) => currentRelease(request.params.product, request.params.channel, request.query.device),
  );

  // The current release and the device's first announce in one request (CurrentJoinRequest).
  app.post<{ Params: { product: string; channel: string }; Body: CurrentJoinRequest }>(
    '/v1/products/:product/channels/:channel/current',
    { schema: { params: channelParams, body: CurrentJoinRequest } },
    async (request, reply) => {
      const { deviceId, announce: join, respectRollout } = request.body;
      const current = await currentRelease(request.params.product, request.params.channel, deviceId);
      let text = JSON.stringify(current);
      if (join && (current.eligible || respectRollout === false)) {
        const body: AnnounceRequest = { ...join, deviceId, release: current.release };
        try {
          const answer = await announce(body, request.ip);
          text = `${text.slice(0, -1)},"announce":${answer}}`;
        } catch (error) {
          // The device announces on its own then, and hears the reason there (a bad token, a limit).
          if (!(error instanceof TrackerError)) throw error;
          request.log.info({ code: error.code, device: deviceId }, 'join announce refused');
        }
      }
      reply.header('content-type', 'application/json; charset=utf-8');
      return text;
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
