import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  type BtAnnounce,
  encodeBtAnnounceResponse,
  encodeBtFailure,
  encodeBtScrapeResponse,
  parseBtAnnounce,
  parseBtScrape,
  stockPeerId,
} from './bt-protocol.ts';
import { agentSwarm, btSwarm, type TrackerContext } from './context.ts';
import { TrackerError } from './errors.ts';
import { bucketsOf, LEECHER_BUCKET, resolveLocality, SEEDER_BUCKET } from './locality.ts';
import { parseRawQuery } from './raw-query.ts';
import { selectPeers } from './selection.ts';
import type { PeerRecord } from './swarm-store.ts';

/** Standard BitTorrent HTTP tracker (BEP 3, compact peers BEP 23, scrape BEP 48). */
export function registerBtRoutes(app: FastifyInstance, ctx: TrackerContext): void {
  const { options, swarmStore: store, clock } = ctx;

  const send = (reply: FastifyReply, body: Uint8Array) =>
    reply
      .code(200)
      .header('content-type', 'text/plain')
      .send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));

  // Clients expect failures as HTTP 200 with a bencoded reason, so errors are answered here.
  const fail = (reply: FastifyReply, error: unknown) => {
    if (!(error instanceof TrackerError)) throw error;
    ctx.metrics.errors.inc({ code: error.code });
    return send(reply, encodeBtFailure(error.message, error.code));
  };

  /**
   * The swarm an info hash belongs to: a release's own swarm (agents and stock clients together), or,
   * with `allowUnknownTorrents`, a swarm of its own for torrents the catalogue does not know.
   */
  const swarmOf = async (infoHash: string): Promise<{ swarm: string; product: string | null } | null> => {
    const release = await ctx.catalogue.byInfoHash(infoHash);
    if (release) return { swarm: agentSwarm(release.id), product: release.product };
    if (options.allowUnknownTorrents) return { swarm: btSwarm(infoHash), product: null };
    return null;
  };

  const announceCounter = new Map<string, { inc(): void }>();
  const countAnnounce = (event: string) => {
    let c = announceCounter.get(event);
    if (!c) {
      c = ctx.metrics.announces.labels({ api: 'bt', event });
      announceCounter.set(event, c);
    }
    c.inc();
  };

  app.get('/announce', async (request, reply) => {
    let announce: BtAnnounce;
    try {
      const query = parseRawQuery(request.raw.url ?? '');
      if (!query) throw new TrackerError('BAD_REQUEST', 'malformed query string');
      announce = parseBtAnnounce(query, {
        defaultNumwant: options.btDefaultNumwant,
        maxNumwant: options.btMaxNumwant,
      });
      const known = await swarmOf(announce.infoHash);
      if (!known) throw new TrackerError('TORRENT_UNKNOWN', 'unregistered torrent');
      const { swarm, product } = known;
      countAnnounce(announce.event);
      const now = clock.now();
      const peerId = stockPeerId(announce.peerId);
      const locality = resolveLocality(request.ip, options.prefixes);
      const seeder = announce.left === 0;
      let peers: PeerRecord[] = [];
      if (announce.event === 'stopped') {
        await store.removePeer(swarm, peerId);
      } else {
        const record: PeerRecord = {
          peerId,
          address: { host: locality.publicIp, port: announce.port },
          isp: locality.isp,
          region: locality.region,
          asn: locality.asn,
          // Standard clients speak TCP and report nothing about reachability; BitTorrent assumes dialable.
          reach: 'open',
          seeder,
          have: -1,
          candidates: [],
          load: 0,
          uploadCapacity: 0,
          lastSeen: now,
          stock: true,
        };
        const { storeKey } = await store.upsertPeer(
          swarm,
          record,
          bucketsOf(locality, 'open', seeder, ['bt']),
        );
        if (announce.event === 'completed') await store.addCounters(`${swarm}:downloads`, { downloaded: 1 });
        await store.pruneSwarm(swarm, now - options.peerTtlSec * 1000, options.pruneBatch);
        const scope = (product && options.scopes[product]) || options.defaultScope;
        // Other stock clients and the agents that speak the TCP wire, within the product's scope.
        const selected = await selectPeers(
          store,
          swarm,
          { peerId, storeKey, locality, reach: 'open', seeder, port: announce.port },
          announce.numwant,
          { ...options.selection, scope, mode: options.selectionMode, families: ['bt', 'tcp'] },
        );
        peers = selected.map((s) => s.peer);
      }
      const [complete, incomplete] = await Promise.all([
        store.countBucket(swarm, SEEDER_BUCKET),
        store.countBucket(swarm, LEECHER_BUCKET),
      ]);
      return send(
        reply,
        encodeBtAnnounceResponse({
          interval: options.announceIntervalSec,
          minInterval: options.minIntervalSec,
          complete,
          incomplete,
          peers,
          compact: announce.compact,
          noPeerId: announce.noPeerId,
        }),
      );
    } catch (error) {
      return fail(reply, error);
    }
  });

  app.get('/scrape', async (request, reply) => {
    try {
      const query = parseRawQuery(request.raw.url ?? '');
      if (!query) throw new TrackerError('BAD_REQUEST', 'malformed query string');
      const hashes = parseBtScrape(query, 50);
      const files = [];
      for (const infoHash of new Set(hashes)) {
        const known = await swarmOf(infoHash);
        if (!known) continue;
        const { swarm } = known;
        const [complete, incomplete, counters] = await Promise.all([
          store.countBucket(swarm, SEEDER_BUCKET),
          store.countBucket(swarm, LEECHER_BUCKET),
          store.getCounters(`${swarm}:downloads`),
        ]);
        files.push({ infoHash, complete, incomplete, downloaded: counters.downloaded ?? 0 });
      }
      return send(reply, encodeBtScrapeResponse(files));
    } catch (error) {
      return fail(reply, error);
    }
  });
}
