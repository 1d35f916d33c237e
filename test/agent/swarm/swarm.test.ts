import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Bitfield } from '../../../agent/engine/bitfield.ts';
import { createDownloadEngine } from '../../../agent/engine/download.ts';
import type { PieceLayout } from '../../../agent/engine/layout.ts';
import { createMemoryPieceStore } from '../../../agent/storage/piece-store.ts';
import { CONTROL_BATCH_MS } from '../../../agent/swarm/peer.ts';
import { createSwarm, createUploadLimiter } from '../../../agent/swarm/swarm.ts';
import { createSeededRandom, createSilentLogger } from '../../../runtime/index.ts';
import { fakeSource, flush, ManualClock, makeRelease } from '../helpers.ts';

const PIECE = 32 * 1024;

function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const make = (other: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        other().push(chunk);
        cb();
      },
      final(cb) {
        other().push(null);
        cb();
      },
      // A closed session closes both ends, as the transport's does.
      destroy(error, cb) {
        other().destroy();
        cb(error);
      },
    });
  sides[0] = make(() => sides[1]!);
  sides[1] = make(() => sides[0]!);
  return [sides[0], sides[1]];
}

function peerId(name: string): string {
  return createHash('sha1').update(name).digest('hex');
}

function makeNode(
  name: string,
  clock: ManualClock,
  release: { data: Uint8Array; layout: PieceLayout },
  opts: { seed?: boolean; corrupt?: boolean; uploadRateBps?: number; maxPeers?: number } = {},
) {
  const { layout, data } = release;
  const store = createMemoryPieceStore();
  const have = new Bitfield(layout.pieces.length);
  if (opts.seed)
    for (let i = 0; i < layout.pieces.length; i++) {
      const bytes = data.slice(i * layout.pieceLength, Math.min(layout.size, (i + 1) * layout.pieceLength));
      if (opts.corrupt) bytes[0] = (bytes[0]! + 1) & 0xff;
      store.pieces.set(i, bytes);
      have.set(i);
    }
  const random = createSeededRandom(name.length * 31 + name.charCodeAt(name.length - 1));
  const logger = createSilentLogger();
  const engine = createDownloadEngine({}, { clock, random, logger, store, layout, have });
  const swarm = createSwarm(
    {
      infoHash: 'aa'.repeat(20),
      peerId: peerId(name),
      selfId: name,
      maxPeers: opts.maxPeers ?? 30,
      uploadSlots: 4,
      maxInFlightPerPeer: 2,
    },
    {
      clock,
      random,
      logger,
      engine,
      store,
      have,
      layout,
      limiter: createUploadLimiter(opts.uploadRateBps ?? 0, { clock }),
      uploadAllowed: () => true,
    },
  );
  let done = opts.seed === true;
  const run = engine.run().then(() => {
    done = true;
  });
  return { name, store, have, engine, swarm, done: () => done, run };
}

function connect(a: ReturnType<typeof makeNode>, b: ReturnType<typeof makeNode>): void {
  const [x, y] = duplexPair();
  a.swarm.addStream(x, { id: b.name, sourceClass: 'peer-same-isp', initiator: true });
  b.swarm.addStream(y, { id: a.name, sourceClass: 'peer-same-isp', initiator: false });
}

/** Lets the in-memory wires exchange several messages back and forth. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await flush();
}

function assembled(node: ReturnType<typeof makeNode>, layout: PieceLayout): Buffer {
  return Buffer.concat(layout.pieces.map((_, i) => node.store.pieces.get(i)!));
}

describe('swarm over the BitTorrent wire (in-memory streams)', () => {
  it('one seed and six leechers all complete byte-exact; leechers upload to each other', async () => {
    const release = makeRelease(48 * PIECE + 1000, PIECE, 31);
    const clock = new ManualClock();
    const seed = makeNode('seed', clock, release, { seed: true, uploadRateBps: 2 * 1024 * 1024 });
    const leechers = Array.from({ length: 6 }, (_, i) => makeNode(`leech-${i}`, clock, release));
    const all = [seed, ...leechers];
    for (let i = 0; i < all.length; i++) for (let j = i + 1; j < all.length; j++) connect(all[i]!, all[j]!);
    await clock.runUntil(() => leechers.every((l) => l.done()), 600_000);
    for (const l of leechers) {
      expect(l.done()).toBe(true);
      expect(assembled(l, release.layout).equals(Buffer.from(release.data))).toBe(true);
    }
    const leecherUploads = leechers.reduce((sum, l) => sum + l.swarm.uploaded(), 0);
    expect(leecherUploads).toBeGreaterThan(0);
    for (const n of all) n.swarm.close();
  });

  it('devices that both hold the release drop their connection to each other', async () => {
    const release = makeRelease(8 * PIECE, PIECE, 33);
    const clock = new ManualClock();
    const seed = makeNode('seed', clock, release, { seed: true, uploadRateBps: 64 * 1024 });
    const a = makeNode('leech-a', clock, release);
    const b = makeNode('leech-b', clock, release);
    connect(seed, a);
    connect(seed, b);
    connect(a, b);
    await flush();
    expect(seed.swarm.peers()).toHaveLength(2);
    await clock.runUntil(() => a.done() && b.done(), 60_000);
    expect(a.done() && b.done()).toBe(true);
    // The last haves leave in their batch.
    await clock.runUntil(() => false, 2 * CONTROL_BATCH_MS);
    // Nobody has anything left to trade: every connection is gone, on both ends.
    for (const n of [seed, a, b]) expect(n.swarm.peers()).toHaveLength(0);
    for (const n of [seed, a, b]) n.swarm.close();
  });

  it('at its peer limit a device makes room for a new peer by dropping one that carries nothing', async () => {
    const release = makeRelease(8 * PIECE, PIECE, 34);
    const clock = new ManualClock();
    const device = makeNode('device', clock, release, { maxPeers: 2 });
    // Two peers that hold nothing, as the device holds nothing: neither side wants anything.
    const x = makeNode('empty-x', clock, release);
    const y = makeNode('empty-y', clock, release);
    connect(device, x);
    connect(device, y);
    await settle();
    expect(device.swarm.peers()).toHaveLength(2);
    const seed = makeNode('seed', clock, release, { seed: true, uploadRateBps: 64 * 1024 });
    connect(seed, device);
    await settle();
    expect(device.swarm.hasPeer('seed')).toBe(true);
    expect(device.swarm.peers()).toHaveLength(2);
    await clock.runUntil(() => device.done(), 60_000);
    expect(assembled(device, release.layout).equals(Buffer.from(release.data))).toBe(true);
    for (const n of [device, x, y, seed]) n.swarm.close();
  });

  it('at its peer limit a device keeps peers it trades with and turns the new one away', async () => {
    const release = makeRelease(8 * PIECE, PIECE, 35);
    const clock = new ManualClock();
    const device = makeNode('device', clock, release, { maxPeers: 1, uploadRateBps: 64 * 1024 });
    const seed = makeNode('seed', clock, release, { seed: true, uploadRateBps: 64 * 1024 });
    connect(device, seed);
    await flush();
    const late = makeNode('late', clock, release);
    connect(late, device);
    await flush();
    // The device still wants the seed's pieces: the seed stays, the newcomer is refused.
    expect(device.swarm.hasPeer('seed')).toBe(true);
    expect(device.swarm.hasPeer('late')).toBe(false);
    for (const n of [device, seed, late]) n.swarm.close();
  });

  it('a peer serving corrupt pieces is banned and the download completes from an honest one', async () => {
    const release = makeRelease(24 * PIECE, PIECE, 32);
    const clock = new ManualClock();
    const evil = makeNode('evil', clock, release, { seed: true, corrupt: true });
    const honest = makeNode('honest', clock, release, { seed: true, uploadRateBps: 512 * 1024 });
    const victim = makeNode('victim', clock, release);
    connect(victim, evil);
    connect(victim, honest);
    await clock.runUntil(() => victim.done(), 600_000);
    expect(victim.done()).toBe(true);
    expect(victim.engine.isBanned('evil')).toBe(true);
    expect(victim.swarm.hasPeer('evil')).toBe(false);
    expect(assembled(victim, release.layout).equals(Buffer.from(release.data))).toBe(true);
    for (const n of [evil, honest, victim]) n.swarm.close();
  });

  it('relays an infrastructure claim one hop, so a device not connected to the claimer hears it', async () => {
    const release = makeRelease(16 * PIECE, PIECE, 34);
    const clock = new ManualClock();
    // a - b - c in a line: c never talks to a.
    const a = makeNode('a', clock, release);
    const b = makeNode('b', clock, release);
    const c = makeNode('c', clock, release);
    connect(a, b);
    connect(b, c);
    for (let i = 0; i < 5; i++) await flush();
    const all = new Set(Array.from({ length: 16 }, (_, i) => i));
    const cdn = fakeSource({
      id: 'cdn',
      kind: 'cdn',
      data: release.data,
      layout: release.layout,
      clock,
      rateBps: 256 * 1024,
      stall: all,
    });
    a.engine.addSource(cdn);
    await clock.runUntil(() => cdn.requests.length > 0, 2_000);
    const claimed = cdn.requests[0]!;
    const cViaB = c.swarm.peers().find((p) => p.id === 'b')!;
    // Two hops, each held back at most one control batch.
    await clock.runUntil(() => cViaB.soon(claimed), 2 * CONTROL_BATCH_MS);
    expect(cViaB.soon(claimed)).toBe(true);
    expect(cViaB.soon((claimed + 1) % 16)).toBe(false);
    for (const n of [a, b, c]) n.swarm.close();
  });

  it('the CDN only serves what the swarm lacks', async () => {
    const release = makeRelease(32 * PIECE, PIECE, 33);
    const clock = new ManualClock();
    // Two leechers, no seed: every piece must come from the CDN once, then they trade.
    const a = makeNode('a', clock, release);
    const b = makeNode('b', clock, release);
    connect(a, b);
    const cdnA = fakeSource({
      id: 'cdn',
      kind: 'cdn',
      data: release.data,
      layout: release.layout,
      clock,
      rateBps: 256 * 1024,
      maxInFlight: 1,
    });
    const cdnB = fakeSource({
      id: 'cdn',
      kind: 'cdn',
      data: release.data,
      layout: release.layout,
      clock,
      rateBps: 256 * 1024,
      maxInFlight: 1,
    });
    a.engine.addSource(cdnA);
    b.engine.addSource(cdnB);
    await clock.runUntil(() => a.done() && b.done(), 600_000);
    expect(a.done() && b.done()).toBe(true);
    const cdnPieces = cdnA.requests.length + cdnB.requests.length;
    // One copy is 32 pieces; both devices together take well under two copies from the CDN.
    expect(cdnPieces).toBeLessThan(32 * 1.5);
    for (const n of [a, b]) n.swarm.close();
  });
});
