import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  AnnounceRequest,
  type AnnounceResponse,
  CurrentReleaseQuery,
  type CurrentReleaseResponse,
  ReleaseIdString,
  ReportRequest,
} from './api-schema.ts';
import { agentSwarm, authenticateDevice, type TrackerContext } from './context.ts';
import { TrackerError } from './errors.ts';
import {
  bucketsOf,
  classifyReachability,
  LEECHER_BUCKET,
  resolveLocality,
  SEEDER_BUCKET,
} from './locality.ts';
import { rarestPieces } from './rarity.ts';
import { selectPeers } from './selection.ts';
import { recordReport, releaseStats } from './stats.ts';
import type { PeerCandidate, PeerRecord } from './swarm-store.ts';

/**
 * AnnounceResponse for the serializer only: literal unions become plain strings and nullable fields
 * `type: [..., 'null']`, because fast-json-stringify checks anyOf branches value by value (costly with
 * 30 peers x 3 unions). The documented contract stays AnnounceResponse.
 */
const nullable = (type: 'string' | 'integer') =>
  Type.Unsafe<string | number | null>({ type: [type, 'null'] });
const AnnounceResponseWire = Type.Object({
  deviceToken: Type.Optional(Type.String()),
  interval: Type.Integer(),
  minInterval: Type.Integer(),
  peers: Type.Array(
    Type.Object({
      deviceId: Type.String(),
      publicKey: Type.String(),
      candidates: Type.Array(Type.Object({ type: Type.String(), host: Type.String(), port: Type.Integer() })),
      tier: Type.String(),
      reachableHow: Type.String(),
      seeder: Type.Boolean(),
      have: Type.Integer(),
      load: Type.Number(),
      bridge: Type.Boolean(),
    }),
  ),
  edges: Type.Array(
    Type.Object({
      id: Type.String(),
      address: Type.Object({ host: Type.String(), port: Type.Integer() }),
      publicKey: Type.String(),
      region: Type.String(),
      load: Type.Number(),
      capacity: Type.Number(),
    }),
  ),
  cdnUrls: Type.Array(Type.String()),
  rarePieces: Type.Array(Type.Integer()),
  swarm: Type.Object({ seeders: Type.Integer(), leechers: Type.Integer() }),
  you: Type.Object({
    publicIp: Type.String(),
    isp: nullable('string'),
    region: nullable('string'),
    asn: nullable('integer'),
    reach: Type.String(),
  }),
});

const NameParam = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' });

/**
 * Without a STUN-learned or mapped address, the address the announce came from plus the announced UDP
 * port is the best public guess (exact for devices without NAT or with port-preserving NAT).
 */
function withObserved(candidates: readonly PeerCandidate[], publicIp: string, port: number): PeerCandidate[] {
  if (port === 0 || candidates.some((c) => c.type === 'srflx' || c.type === 'mapped')) return [...candidates];
  return [...candidates, { type: 'srflx', host: publicIp, port }];
}

export function cdnUrlsFor(ctx: TrackerContext, objectKey: string): string[] {
  return ctx.options.cdnBaseUrls.map((base) => `${base.replace(/\/+$/, '')}/${objectKey}`);
}

export function registerAgentRoutes(app: FastifyInstance, ctx: TrackerContext): void {
  const { options, swarmStore: store, clock } = ctx;

  // The response schema buys fast-json-stringify serialization on the hottest route.
  app.post<{ Body: AnnounceRequest }>(
    '/v1/announce',
    { schema: { body: AnnounceRequest, response: { 200: AnnounceResponseWire } } },
    async (request) => {
      const body = request.body;
      const release = await ctx.catalogue.byId(body.release);
      if (!release) throw new TrackerError('RELEASE_UNKNOWN', `unknown release ${body.release}`);
      const { issuedToken } = await authenticateDevice(ctx, body.deviceId, body.deviceToken);
      const now = clock.now();
      const swarm = agentSwarm(release.id);
      const locality = resolveLocality(request.ip, options.prefixes, body.ispHints);
      const reach = classifyReachability(body.reachability);
      const seeder =
        body.progress.complete === true ||
        (release.pieceCount > 0 && body.progress.have >= release.pieceCount);
      const event = body.event ?? 'update';
      ctx.metrics.announces.inc({ api: 'v1', event });

      const peer: PeerRecord = {
        peerId: body.deviceId,
        address: { host: locality.publicIp, port: body.port },
        isp: locality.isp,
        region: locality.region,
        asn: locality.asn,
        reach,
        seeder,
        have: body.progress.have,
        ...(body.progress.bitfield ? { bitfield: body.progress.bitfield } : {}),
        candidates: withObserved(body.candidates, locality.publicIp, body.port),
        publicKey: body.publicKey,
        load: body.load ?? 0,
        uploadCapacity: body.uploadCapacity ?? 0,
        lastSeen: now,
      };
      let swarmCreatedAt = now;
      if (event === 'stopped') {
        await store.removePeer(swarm, body.deviceId);
      } else {
        // Devices whose policy forbids uploading are counted but never handed out.
        const uploads = body.state?.uploadAllowed !== false && body.uploadCapacity !== 0;
        const buckets = uploads
          ? bucketsOf(locality, reach, seeder)
          : [seeder ? SEEDER_BUCKET : LEECHER_BUCKET];
        ({ swarmCreatedAt } = await store.upsertPeer(swarm, peer, buckets));
      }
      await store.pruneSwarm(swarm, now - options.peerTtlSec * 1000, options.pruneBatch);

      const scope = options.scopes[release.product] ?? options.defaultScope;
      const numwant =
        event === 'stopped' ? 0 : Math.min(body.numwant ?? options.defaultNumwant, options.maxNumwant);
      const selected = await selectPeers(
        store,
        swarm,
        { peerId: body.deviceId, locality, reach, seeder, port: body.port },
        numwant,
        { ...options.selection, scope, mode: options.selectionMode },
      );
      // One counter update per tier, not per peer (label lookups are not free on the hot path).
      const perTier = new Map<string, number>();
      for (const s of selected) perTier.set(s.tier, (perTier.get(s.tier) ?? 0) + 1);
      for (const [tier, n] of perTier) ctx.metrics.peersReturned.inc({ tier }, n);
      const [edges, seeders, leechers] = await Promise.all([
        ctx.edges.best(locality.region, options.edgeLimit),
        store.countBucket(swarm, SEEDER_BUCKET),
        store.countBucket(swarm, LEECHER_BUCKET),
      ]);
      const young = now - swarmCreatedAt < options.youngSwarmSec * 1000;
      const response: AnnounceResponse = {
        ...(issuedToken ? { deviceToken: issuedToken } : {}),
        interval: young ? options.youngIntervalSec : options.announceIntervalSec,
        minInterval: options.minIntervalSec,
        peers: selected.map((s) => ({
          deviceId: s.peer.peerId,
          publicKey: s.peer.publicKey ?? '',
          // Only peers behind the same public address get to see LAN candidates.
          candidates:
            s.how === 'lan' || !s.peer.candidates.some((c) => c.type === 'host')
              ? s.peer.candidates
              : s.peer.candidates.filter((c) => c.type !== 'host'),
          tier: s.tier,
          reachableHow: s.how,
          seeder: s.peer.seeder,
          have: s.peer.have,
          load: s.peer.load,
          bridge: s.bridge,
        })),
        edges,
        cdnUrls: cdnUrlsFor(ctx, release.objectKey),
        rarePieces: rarestPieces(
          release.pieceCount,
          selected.map((s) => s.peer.bitfield),
          body.progress.bitfield,
          16,
        ),
        swarm: { seeders, leechers },
        you: {
          publicIp: locality.publicIp,
          isp: locality.isp,
          region: locality.region,
          asn: locality.asn,
          reach,
        },
      };
      return response;
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
