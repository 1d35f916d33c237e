import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  type BtAnnounce,
  encodeBtAnnounceResponse,
  encodeBtFailure,
  encodeBtScrapeResponse,
  parseBtAnnounce,
  parseBtScrape,
} from './bt-protocol.ts';
import { btSwarm, type TrackerContext } from './context.ts';
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

  const knownSwarm = async (infoHash: string): Promise<{ product: string | null }> => {
    const release = await ctx.catalogue.byInfoHash(infoHash);
    if (release) return { product: release.product };
    if (options.allowUnknownTorrents) return { product: null };
    throw new TrackerError('TORRENT_UNKNOWN', 'unregistered torrent');
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
      const { product } = await knownSwarm(announce.infoHash);
      ctx.metrics.announces.inc({ api: 'bt', event: announce.event });
      const now = clock.now();
      const swarm = btSwarm(announce.infoHash);
      const locality = resolveLocality(request.ip, options.prefixes);
      const seeder = announce.left === 0;
      let peers: PeerRecord[] = [];
      if (announce.event === 'stopped') {
        await store.removePeer(swarm, announce.peerId);
      } else {
        const record: PeerRecord = {
          peerId: announce.peerId,
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
        };
        await store.upsertPeer(swarm, record, bucketsOf(locality, 'open', seeder));
        if (announce.event === 'completed') await store.addCounters(`${swarm}:downloads`, { downloaded: 1 });
        await store.pruneSwarm(swarm, now - options.peerTtlSec * 1000, options.pruneBatch);
        const scope = (product && options.scopes[product]) || options.defaultScope;
        const selected = await selectPeers(
          store,
          swarm,
          { peerId: announce.peerId, locality, reach: 'open', seeder, port: announce.port },
          announce.numwant,
          { ...options.selection, scope, mode: options.selectionMode },
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
        const release = await ctx.catalogue.byInfoHash(infoHash);
        if (!release && !options.allowUnknownTorrents) continue;
        const swarm = btSwarm(infoHash);
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
