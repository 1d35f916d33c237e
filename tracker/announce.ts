import { announceJson, prepareAnswerFragments } from './announce-json.ts';
import type { AnnounceRequest } from './api-schema.ts';
import { agentSwarm, authenticateDevice, type TrackerContext } from './context.ts';
import { TrackerError } from './errors.ts';
import {
  type BucketFamily,
  bucketsOf,
  classifyReachability,
  LEECHER_BUCKET,
  type PeeringScope,
  resolveLocality,
  SEEDER_BUCKET,
  TIERS,
} from './locality.ts';
import { rarestPieces } from './rarity.ts';
import { type SelectionOptions, selectPeers } from './selection.ts';
import type { PeerCandidate, PeerRecord } from './swarm-store.ts';

/** A validated agent announce and the client address it came from; answers the JSON text. */
export type AgentAnnounce = (body: AnnounceRequest, ip: string) => Promise<string>;

/**
 * Without a STUN-learned or mapped address, the address the announce came from plus the announced UDP
 * port is the best public guess (exact for devices without NAT or with port-preserving NAT).
 */
function withObserved(candidates: PeerCandidate[], publicIp: string, port: number): PeerCandidate[] {
  if (port === 0) return candidates;
  for (const c of candidates) if (c.type === 'srflx' || c.type === 'mapped') return candidates;
  candidates.push({ type: 'srflx', host: publicIp, port });
  return candidates;
}

export function cdnUrlsFor(ctx: TrackerContext, objectKey: string): string[] {
  return ctx.options.cdnBaseUrls.map((base) => `${base.replace(/\/+$/, '')}/${objectKey}`);
}

/**
 * The agent announce (POST /v1/announce) apart from HTTP: both the fastify route and the fast path
 * (fast-announce.ts) call it, so they cannot answer differently. Refusals are thrown TrackerErrors.
 */
export function createAgentAnnounce(ctx: TrackerContext): AgentAnnounce {
  const { options, swarmStore: store, clock } = ctx;

  // Counter children bound once: label lookups are not free on the hottest route.
  const announceCounter = new Map<string, { inc(n?: number): void }>();
  const countAnnounce = (event: string) => {
    let c = announceCounter.get(event);
    if (!c) {
      c = ctx.metrics.announces.labels({ api: 'v1', event });
      announceCounter.set(event, c);
    }
    c.inc();
  };
  const tierCounters = TIERS.map((tier) => ctx.metrics.peersReturned.labels({ tier }));
  const tierIndex = new Map<string, number>(TIERS.map((t, i) => [t, i]));
  const stockView = options.selectionMode === 'random';
  const familiesOf = (uploads: boolean, tcpPort: number | undefined): BucketFamily[] =>
    uploads ? (tcpPort === undefined ? ['pz'] : ['pz', 'tcp']) : [];
  // Per scope, built once: agent peers (PZ) and the stock clients handed to an agent's TCP wire.
  const selectionFor = new Map<PeeringScope, { pz: SelectionOptions; bt: SelectionOptions }>();
  const selectionOf = (scope: PeeringScope) => {
    let s = selectionFor.get(scope);
    if (!s) {
      const pz: SelectionOptions = { ...options.selection, scope, mode: options.selectionMode };
      s = { pz, bt: { ...pz, families: ['bt'] } };
      selectionFor.set(scope, s);
    }
    return s;
  };
  const cdnUrlCache = new Map<string, string[]>();
  const cdnUrlsOf = (objectKey: string) => {
    let urls = cdnUrlCache.get(objectKey);
    if (!urls) {
      if (cdnUrlCache.size >= 1_000) cdnUrlCache.clear();
      urls = cdnUrlsFor(ctx, objectKey);
      cdnUrlCache.set(objectKey, urls);
    }
    return urls;
  };

  return async (body, ip) => {
    const release = await ctx.catalogue.byId(body.release);
    if (!release) throw new TrackerError('RELEASE_UNKNOWN', `unknown release ${body.release}`);
    const claim = await authenticateDevice(ctx, body.deviceId, body.deviceToken);
    const issuedToken = claim.issuedToken;
    try {
      const now = clock.now();
      const swarm = agentSwarm(release.id);
      const locality = resolveLocality(ip, options.prefixes, body.ispHints);
      const reach = classifyReachability(body.reachability);
      const seeder =
        body.progress.complete === true ||
        (release.pieceCount > 0 && body.progress.have >= release.pieceCount);
      const event = body.event ?? 'update';
      countAnnounce(event);

      let swarmCreatedAt = now;
      let storeKey: number | undefined;
      if (event === 'stopped') {
        await store.removePeer(swarm, body.deviceId);
      } else {
        // The validated body is ours: its candidate list goes into the record without a copy.
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
          ...(body.tcpPort !== undefined ? { tcpPort: body.tcpPort } : {}),
          load: body.load ?? 0,
          uploadCapacity: body.uploadCapacity ?? 0,
          lastSeen: now,
        };
        // Devices whose policy forbids uploading are counted but never handed out.
        const uploads = body.state?.uploadAllowed !== false && body.uploadCapacity !== 0;
        const buckets = bucketsOf(locality, reach, seeder, familiesOf(uploads, body.tcpPort));
        if (uploads) prepareAnswerFragments(peer);
        ({ swarmCreatedAt, storeKey } = await store.upsertPeer(swarm, peer, buckets));
      }
      await store.pruneSwarm(swarm, now - options.peerTtlSec * 1000, options.pruneBatch);

      const scope = options.scopes[release.product] ?? options.defaultScope;
      const numwant =
        event === 'stopped' ? 0 : Math.min(body.numwant ?? options.defaultNumwant, options.maxNumwant);
      const requester = { peerId: body.deviceId, storeKey, locality, reach, seeder, port: body.port };
      const selection = selectionOf(scope);
      const selected = await selectPeers(store, swarm, requester, numwant, selection.pz);
      // Stock clients of the release (through GET /announce), for the agent's TCP wire.
      const stock = await selectPeers(store, swarm, requester, numwant, selection.bt);
      const perTier = [0, 0, 0, 0, 0];
      for (const s of selected) {
        const i = tierIndex.get(s.tier) as number;
        perTier[i] = (perTier[i] as number) + 1;
      }
      for (let i = 0; i < perTier.length; i++)
        if ((perTier[i] as number) > 0) tierCounters[i]?.inc(perTier[i] as number);
      const [edges, seeders, leechers] = await Promise.all([
        ctx.edges.best(locality.region, options.edgeLimit),
        store.countBucket(swarm, SEEDER_BUCKET),
        store.countBucket(swarm, LEECHER_BUCKET),
      ]);
      const young = now - swarmCreatedAt < options.youngSwarmSec * 1000;
      let rare: number[] = [];
      if (release.pieceCount > 0 && selected.some((s) => s.peer.bitfield !== undefined))
        rare = rarestPieces(
          release.pieceCount,
          selected.map((s) => s.peer.bitfield),
          body.progress.bitfield,
          16,
        );
      return announceJson({
        ...(issuedToken ? { deviceToken: issuedToken } : {}),
        interval: young ? options.youngIntervalSec : options.announceIntervalSec,
        minInterval: options.minIntervalSec,
        peers: selected,
        stockView,
        btPeers: stock.map((s) => ({ host: s.peer.address.host, port: s.peer.address.port })),
        edges,
        cdnUrls: cdnUrlsOf(release.objectKey),
        rarePieces: rare,
        seeders,
        leechers,
        you: {
          publicIp: locality.publicIp,
          isp: locality.isp,
          region: locality.region,
          asn: locality.asn,
          reach,
        },
      });
    } catch (error) {
      // The device never saw the token it was just issued: free its id so that its retry can claim
      // it again (otherwise one failed first announce locks the device out for good).
      await claim.release?.().catch(() => undefined);
      throw error;
    }
  };
}
