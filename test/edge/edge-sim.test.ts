import { describe, expect, it } from 'vitest';
import {
  createEdgeClient,
  createEdgeServer,
  createManifestRegistry,
  createMemoryPieceCache,
  createPieceProvider,
  createStoreOrigin,
  type EdgeCandidate,
  type EdgeServer,
  type TrackerClient,
  type TrackerEdgeInfo,
} from '../../edge/index.ts';
import { createSimulation, type SimHost, type SimRegion, type Simulation } from '../../lab/sim/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { createEndpoint } from '../../transport/index.ts';
import { createMemoryStore, type MemoryStore } from './helpers/memory-store.ts';
import { publishTestRelease } from './helpers/release.ts';

const PIECE = 32 * 1024;
const logger = createSilentLogger();
const EDGE_PORT = 7000;

interface World {
  sim: Simulation;
  store: MemoryStore;
  release: Awaited<ReturnType<typeof publishTestRelease>>;
  regions: Record<string, SimRegion>;
}

async function world(seed: number, pieces = 16): Promise<World> {
  const sim = createSimulation({ seed });
  const regions = {
    eu: sim.addRegion({ name: 'eu' }),
    us: sim.addRegion({ name: 'us', link: { delayMs: 60 } }),
  };
  const store = createMemoryStore();
  const release = await publishTestRelease(store, { size: pieces * PIECE, pieceLength: PIECE, seed });
  return { sim, store, release, regions };
}

async function addEdge(
  w: World,
  name: string,
  region: SimRegion,
  options: {
    capacityPieces?: number;
    maxSessions?: number;
    sessionBytesPerSecond?: number;
    tracker?: TrackerClient;
    retryThreshold?: number;
  } = {},
): Promise<{ host: SimHost; server: EdgeServer; cache: ReturnType<typeof createMemoryPieceCache> }> {
  const host = w.sim.addServer({ name, region });
  const origin = createStoreOrigin(w.store);
  const cache = createMemoryPieceCache({ capacityBytes: (options.capacityPieces ?? 1000) * PIECE });
  const manifests = createManifestRegistry({}, { origin, clock: w.sim.clock });
  const pieces = createPieceProvider({ memoryBytes: 0 }, { manifests, cache, origin });
  const socket = await w.sim.settle(host.udp.bind({ port: EDGE_PORT }));
  const server = createEdgeServer(
    {
      id: name,
      region: region.name,
      staticPrivateKey: host.random.bytes(32),
      maxSessions: options.maxSessions,
      sessionBytesPerSecond: options.sessionBytesPerSecond,
      transport:
        options.retryThreshold === undefined ? undefined : { retryThreshold: options.retryThreshold },
      advertiseAddress: { host: host.address, port: EDGE_PORT },
    },
    { socket, clock: w.sim.clock, random: host.random, logger, pieces, tracker: options.tracker },
  );
  return { host, server, cache };
}

async function addDevice(w: World, region: SimRegion, probeTimeoutMs = 2000) {
  const isp =
    w.sim.isps().find((i) => i.region === region) ?? w.sim.addIsp({ name: `isp-${region.name}`, region });
  const host = w.sim.addHost({ isp, behindCgn: false });
  const socket = await w.sim.settle(host.udp.bind({}));
  const endpoint = createEndpoint(
    { staticPrivateKey: host.random.bytes(32) },
    { socket, clock: w.sim.clock, random: host.random, logger },
  );
  const client = createEdgeClient(
    { region: region.name, probeTimeoutMs },
    { endpoint, clock: w.sim.clock, logger },
  );
  return { host, endpoint, client };
}

const candidate = (edge: { host: SimHost; server: EdgeServer }): EdgeCandidate => ({
  address: { host: edge.host.address, port: EDGE_PORT },
  publicKey: edge.server.publicKey,
});
const objectReads = (w: World) => w.store.reads.filter((r) => r.key === w.release.manifest.object);

describe('edges on the simulated network', () => {
  it('one edge serves 200 devices at once; each piece leaves the origin once', async () => {
    const w = await world(1);
    const edge = await addEdge(w, 'edge-eu', w.regions.eu!);
    const devices = [];
    for (let i = 0; i < 200; i++) devices.push(await addDevice(w, w.regions.eu!));
    const n = w.release.manifest.pieces.length;
    const results = await w.sim.settle(
      Promise.all(
        devices.map(async (d, i) => {
          await d.client.discoverEdges([candidate(edge)]);
          const a = await d.client.fetchPiece(w.release.manifest, i % n);
          const b = await d.client.fetchPiece(w.release.manifest, (i * 7 + 3) % n);
          return [a, b];
        }),
      ),
      { deadlineMs: 120_000 },
    );
    expect(results).toHaveLength(200);
    for (const [i, [a]] of results.entries())
      expect(
        Buffer.from(a!).equals(Buffer.from(w.release.data.subarray((i % n) * PIECE, ((i % n) + 1) * PIECE))),
      ).toBe(true);
    expect(edge.server.stats().requests).toBe(400);
    expect(objectReads(w)).toHaveLength(n);
    expect(edge.server.stats().sessions).toBe(200);
  });

  it('50 simultaneous misses for one piece cause exactly one origin read', async () => {
    const w = await world(2);
    const edge = await addEdge(w, 'edge-eu', w.regions.eu!);
    const devices = [];
    for (let i = 0; i < 50; i++) devices.push(await addDevice(w, w.regions.eu!));
    await w.sim.settle(Promise.all(devices.map((d) => d.client.discoverEdges([candidate(edge)]))));
    const pieces = await w.sim.settle(
      Promise.all(devices.map((d) => d.client.fetchPiece(w.release.manifest, 5))),
    );
    expect(new Set(pieces.map((p) => Buffer.from(p).toString('base64'))).size).toBe(1);
    expect(objectReads(w)).toHaveLength(1);
  });

  it('respects the cache cap with eviction, and refetches a corrupted cached piece', async () => {
    const w = await world(3);
    const edge = await addEdge(w, 'edge-eu', w.regions.eu!, { capacityPieces: 4 });
    const d = await addDevice(w, w.regions.eu!);
    await w.sim.settle(d.client.discoverEdges([candidate(edge)]));
    for (let i = 0; i < 8; i++) await w.sim.settle(d.client.fetchPiece(w.release.manifest, i));
    expect(edge.cache.stats().bytes).toBeLessThanOrEqual(4 * PIECE);
    expect(edge.cache.stats().evictions).toBe(4);
    const reads = objectReads(w).length;
    const sha = w.release.manifest.pieces[7]!;
    expect(edge.cache.tamper(sha, (b) => b.fill(0, 0, 10))).toBe(true);
    const piece = await w.sim.settle(d.client.fetchPiece(w.release.manifest, 7));
    expect(Buffer.from(piece).equals(Buffer.from(w.release.data.subarray(7 * PIECE, 8 * PIECE)))).toBe(true);
    expect(edge.cache.stats().corrupt).toBe(1);
    expect(objectReads(w)).toHaveLength(reads + 1);
  });

  it('discovery picks the nearer edge, then the less loaded of two equally near ones', async () => {
    const w = await world(4);
    const near = await addEdge(w, 'edge-eu', w.regions.eu!, { maxSessions: 10 });
    const twin = await addEdge(w, 'edge-eu-2', w.regions.eu!, { maxSessions: 10 });
    const far = await addEdge(w, 'edge-us', w.regions.us!);
    // Load the twin: 6 of its 10 session slots taken.
    for (let i = 0; i < 6; i++) {
      const filler = await addDevice(w, w.regions.eu!);
      await w.sim.settle(filler.client.discoverEdges([candidate(twin)]));
    }
    const d = await addDevice(w, w.regions.eu!);
    const session = await w.sim.settle(
      d.client.discoverEdges([candidate(far), candidate(twin), candidate(near)]),
    );
    expect(session.id).toBe('edge-eu');
    expect(session.reply.load).toBe(0);
    // The losers' sessions were closed.
    await w.sim.run({ deadlineMs: 1000 });
    expect(far.server.stats().sessions).toBe(0);
    expect(twin.server.stats().sessions).toBe(6);
    expect(near.server.stats().sessions).toBe(1);
    // With the near edge gone, the US edge is the only one answering.
    await near.server.close();
    const d2 = await addDevice(w, w.regions.eu!);
    const second = await w.sim.settle(d2.client.discoverEdges([candidate(near), candidate(far)]));
    expect(second.id).toBe('edge-us');
  });

  it('a device whose edges are all down gets "no edge" within the probe timeout', async () => {
    const w = await world(5);
    const a = await addEdge(w, 'edge-a', w.regions.eu!);
    const b = await addEdge(w, 'edge-b', w.regions.us!);
    const candidates = [
      candidate(a),
      candidate(b),
      { address: { host: '45.9.9.9', port: EDGE_PORT }, publicKey: a.server.publicKey },
    ];
    await a.server.close();
    await b.server.close();
    const d = await addDevice(w, w.regions.eu!, 1500);
    const started = w.sim.now();
    const outcome = await w.sim.settle(
      d.client.discoverEdges(candidates).then(
        () => null,
        (error: unknown) => error,
      ),
    );
    expect(outcome).toMatchObject({ code: 'NO_EDGE' });
    expect(w.sim.now() - started).toBeLessThanOrEqual(1500);
  });

  it('a full edge refuses the session and points the device at a better edge it learned from the tracker', async () => {
    const w = await world(6);
    const spare = await addEdge(w, 'edge-spare', w.regions.eu!);
    const spareInfo: TrackerEdgeInfo = { ...spare.server.trackerInfo(), load: 0 };
    const tracker: TrackerClient = {
      register: async () => ({ heartbeatIntervalMs: 10_000 }),
      heartbeat: async () => ({ heartbeatIntervalMs: 10_000 }),
      listEdges: async () => [spareInfo],
    };
    const full = await addEdge(w, 'edge-full', w.regions.eu!, { maxSessions: 1, tracker });
    full.server.start();
    await w.sim.run({ deadlineMs: 10 });
    const first = await addDevice(w, w.regions.eu!);
    expect((await w.sim.settle(first.client.discoverEdges([candidate(full)]))).id).toBe('edge-full');
    const second = await addDevice(w, w.regions.eu!);
    const session = await w.sim.settle(second.client.discoverEdges([candidate(full)]));
    expect(session.id).toBe('edge-spare');
    expect(full.server.stats().sessionsRefused).toBe(1);
    const piece = await w.sim.settle(second.client.fetchPiece(w.release.manifest, 1));
    expect(piece.length).toBe(PIECE);
    await full.server.close();
  });

  it('paces a session to its egress cap', async () => {
    const w = await world(7);
    const capped = await addEdge(w, 'edge-capped', w.regions.eu!, { sessionBytesPerSecond: 64 * 1024 });
    const d = await addDevice(w, w.regions.eu!);
    await w.sim.settle(d.client.discoverEdges([candidate(capped)]));
    const started = w.sim.now();
    for (let i = 0; i < 6; i++) await w.sim.settle(d.client.fetchPiece(w.release.manifest, i));
    // 192 KiB at 64 KiB/s with a 64 KiB burst: at least 2 s of virtual time.
    expect(w.sim.now() - started).toBeGreaterThanOrEqual(2000);
    expect(w.sim.now() - started).toBeLessThan(4000);
  });

  it('a withdrawn request is cancelled at the edge, which stops sending that piece', async () => {
    const w = await world(9);
    // 16 KiB/s: a 32 KiB piece takes about 2 s, so there is time to withdraw it before it is sent.
    const capped = await addEdge(w, 'edge-cancel', w.regions.eu!, { sessionBytesPerSecond: 16 * 1024 });
    const d = await addDevice(w, w.regions.eu!);
    await w.sim.settle(d.client.discoverEdges([candidate(capped)]));
    // Two pieces use up the session's 64 KiB burst; from then on it sends at 16 KiB/s.
    for (const index of [0, 1]) await w.sim.settle(d.client.fetchPiece(w.release.manifest, index));
    const before = capped.server.stats().bytesSent;
    const abort = new AbortController();
    const fetch = d.client.fetchPiece(w.release.manifest, 3, abort.signal);
    const outcome = fetch.then(
      () => 'delivered',
      (error: { code?: string }) => error.code,
    );
    await w.sim.run({ deadlineMs: 700 });
    abort.abort('overtaken');
    expect(await w.sim.settle(outcome)).toBe('REQUEST_ABORTED');
    await w.sim.run({ deadlineMs: 5000 });
    const sent = capped.server.stats().bytesSent - before;
    // The piece was still waiting for its rate budget: the edge drops it instead of sending it late.
    expect(sent).toBeLessThan(PIECE);
    // The session is still good for the next piece.
    const next = await w.sim.settle(d.client.fetchPiece(w.release.manifest, 4));
    expect(next.length).toBe(PIECE);
  });

  it('under handshake load the edge answers with stateless retry and devices still get in', async () => {
    const w = await world(8);
    const edge = await addEdge(w, 'edge-retry', w.regions.eu!, { retryThreshold: 0 });
    const devices = [];
    for (let i = 0; i < 5; i++) devices.push(await addDevice(w, w.regions.eu!));
    const sessions = await w.sim.settle(
      Promise.all(devices.map((d) => d.client.discoverEdges([candidate(edge)]))),
    );
    expect(sessions.every((s) => s.id === 'edge-retry')).toBe(true);
    expect(edge.server.endpoint.stats().retriesSent).toBeGreaterThanOrEqual(5);
    const piece = await w.sim.settle(devices[0]!.client.fetchPiece(w.release.manifest, 2));
    expect(piece.length).toBe(PIECE);
  });
});
