import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  MANIFEST_BLOCK,
  MANIFEST_PIECE_BYTES,
  MAX_MANIFEST_BYTES,
} from '../../../agent/net/manifest-exchange.ts';
import { createPeerNetwork, type PeerNetwork } from '../../../agent/net/peer-network.ts';
import { createSimulation, type SimHost, type Simulation } from '../../../lab/sim/index.ts';
import { createSilentLogger } from '../../../runtime/index.ts';
import { type Connection, createEndpoint, type Endpoint } from '../../../transport/index.ts';

const INFOHASH = 'ab'.repeat(20);
const logger = createSilentLogger();
/** A 40 KiB "manifest": three 16 KiB pieces, the last one short. */
const MANIFEST = new Uint8Array(40 * 1024).map((_, i) => (i * 7 + 3) & 0xff);
const SHA = createHash('sha256').update(MANIFEST).digest('hex');

function world(): { sim: Simulation; host: (name: string) => SimHost } {
  const sim = createSimulation({ seed: 9 });
  const region = sim.addRegion({ name: 'eu' });
  const isp = sim.addIsp({ name: 'isp-a', region });
  const link = { bandwidthBps: 20_000_000, delayMs: 40 };
  return { sim, host: (name) => sim.addHost({ name, isp, behindCgn: false, link }) };
}

async function peerNetwork(sim: Simulation, host: SimHost): Promise<PeerNetwork> {
  const socket = await sim.settle(host.udp.bind({ port: 6881 }));
  return createPeerNetwork(
    { staticPrivateKey: host.random.bytes(32) },
    { socket, clock: sim.clock, random: host.random, logger },
  );
}

/** A PZ endpoint that speaks the exchange as `answer` says: how a broken or hostile peer looks. */
async function rawPeer(
  sim: Simulation,
  host: SimHost,
  announce: number,
  answer: (connection: Connection, piece: number) => void,
): Promise<{ endpoint: Endpoint; requests: number[]; sessions: number; closedAt: number[] }> {
  const socket = await sim.settle(host.udp.bind({ port: 6881 }));
  const endpoint = createEndpoint(
    { staticPrivateKey: host.random.bytes(32) },
    { socket, clock: sim.clock, random: host.random, logger },
  );
  const out = { endpoint, requests: [] as number[], sessions: 0, closedAt: [] as number[] };
  endpoint.onConnection((connection) => {
    out.sessions++;
    connection.onClose(() => out.closedAt.push(sim.clock.now()));
    connection.sendBlock({ object: MANIFEST_BLOCK.have, offset: announce, data: new Uint8Array(1) });
    connection.onBlock((b) => {
      if (b.object !== MANIFEST_BLOCK.request) return;
      out.requests.push(b.offset);
      answer(connection, b.offset);
    });
  });
  return out;
}

const to = (host: SimHost, publicKey: Uint8Array) => ({
  address: { host: host.address, port: 6881 },
  publicKey,
  sourceClass: 'peer-same-isp' as const,
});

describe('the manifest from peers (block messages on the PZ peer session)', () => {
  it('a session opened before the swarm exists fetches the manifest from a peer that holds it', async () => {
    const { sim, host } = world();
    const [ha, hb] = [host('a'), host('b')];
    const [a, b] = [await peerNetwork(sim, ha), await peerNetwork(sim, hb)];
    a.expect(INFOHASH);
    a.provideManifest(INFOHASH, MANIFEST);
    const cancel = b.expect(INFOHASH);
    void b.dial(INFOHASH, to(ha, a.publicKey));
    const got = await sim.settle(b.fetchManifest(INFOHASH, { sha256: SHA, budgetMs: 2000 }));
    expect(got && Buffer.from(got.bytes).equals(Buffer.from(MANIFEST))).toBe(true);
    expect(Buffer.from(got!.remoteKey).equals(Buffer.from(a.publicKey))).toBe(true);
    expect(got!.receivedBytes).toBe(MANIFEST.length);
    // Having it now, b serves it too: a third device fetches it from b alone.
    b.provideManifest(INFOHASH, got!.bytes);
    const hc = host('c');
    const c = await peerNetwork(sim, hc);
    c.expect(INFOHASH);
    void c.dial(INFOHASH, to(hb, b.publicKey));
    const fromB = await sim.settle(c.fetchManifest(INFOHASH, { sha256: SHA, budgetMs: 2000 }));
    expect(Buffer.from(fromB!.remoteKey).equals(Buffer.from(b.publicKey))).toBe(true);
    cancel();
    await sim.settle(Promise.all([a.close(), b.close(), c.close()]));
  });

  it('a peer that sends other bytes is caught at once and refused in the swarm since', async () => {
    const { sim, host } = world();
    const [hl, hb] = [host('liar'), host('b')];
    const wrong = MANIFEST.slice();
    wrong[100]! ^= 1;
    const liar = await rawPeer(sim, hl, wrong.length, (c, piece) => {
      const start = piece * MANIFEST_PIECE_BYTES;
      c.sendBlock({
        object: MANIFEST_BLOCK.data,
        offset: start,
        data: wrong.subarray(start, start + MANIFEST_PIECE_BYTES),
      });
    });
    const b = await peerNetwork(sim, hb);
    b.expect(INFOHASH);
    void b.dial(INFOHASH, to(hl, liar.endpoint.publicKey));
    const t0 = sim.clock.now();
    const got = await sim.settle(b.fetchManifest(INFOHASH, { sha256: SHA, budgetMs: 5000 }));
    // No one else to ask: the budget ran out (then the CDN serves it).
    expect(got).toBeUndefined();
    expect(sim.clock.now() - t0).toBe(5000);
    // Caught, and its session closed, once its answer was complete (40 KiB in slow start at a 160 ms
    // round trip: ~1.2 s), not at the end of the budget.
    expect(liar.closedAt.length).toBe(1);
    expect(liar.closedAt[0]! - t0).toBeLessThan(2000);
    expect(b.connectionStats().badManifests).toBe(1);
    expect(liar.requests).toEqual([0, 1, 2]);
    // Refused from then on: no new session is even attempted.
    expect(await sim.settle(b.dial(INFOHASH, to(hl, liar.endpoint.publicKey)))).toBe(false);
    expect(liar.sessions).toBe(1);
    await sim.settle(Promise.all([b.close(), liar.endpoint.close()]));
  });

  it('a peer that never answers costs at most the budget; an oversized announce is not even asked', async () => {
    const { sim, host } = world();
    const [hs, hx, hb] = [host('silent'), host('huge'), host('b')];
    const silent = await rawPeer(sim, hs, MANIFEST.length, () => {});
    const huge = await rawPeer(sim, hx, MAX_MANIFEST_BYTES + 1, () => {});
    const b = await peerNetwork(sim, hb);
    b.expect(INFOHASH);
    void b.dial(INFOHASH, to(hx, huge.endpoint.publicKey));
    void b.dial(INFOHASH, to(hs, silent.endpoint.publicKey));
    const t0 = sim.clock.now();
    const got = await sim.settle(b.fetchManifest(INFOHASH, { sha256: SHA, budgetMs: 1500 }));
    const elapsed = sim.clock.now() - t0;
    expect(got).toBeUndefined();
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(1600);
    expect(silent.requests.length).toBe(3);
    expect(huge.requests).toEqual([]);
    // Slow is not a lie: the peer stays a peer.
    expect(b.connectionStats().badManifests).toBe(0);
    await sim.settle(Promise.all([b.close(), silent.endpoint.close(), huge.endpoint.close()]));
  });

  it('a small manifest is pushed with the HAVE to a peer that said in the handshake it wants it', async () => {
    const { sim, host } = world();
    const [ha, hr] = [host('a'), host('raw')];
    const a = await peerNetwork(sim, ha);
    a.expect(INFOHASH);
    const small = MANIFEST.subarray(0, 3000);
    a.provideManifest(INFOHASH, small);
    const socket = await sim.settle(hr.udp.bind({ port: 6881 }));
    const raw = createEndpoint(
      { staticPrivateKey: hr.random.bytes(32) },
      { socket, clock: sim.clock, random: hr.random, logger },
    );
    const got = async (want: boolean) => {
      const blocks: Array<{ object: number; offset: number; length: number; first: number }> = [];
      const payload = JSON.stringify({ swarm: INFOHASH, ...(want ? { want: 'manifest' } : {}) });
      const c = await raw.connect({ host: ha.address, port: 6881 }, a.publicKey, {
        initPayload: new TextEncoder().encode(payload),
      });
      c.onBlock((b) =>
        blocks.push({ object: b.object, offset: b.offset, length: b.data.length, first: b.data[0]! }),
      );
      await new Promise<void>((resolve) => sim.clock.setTimer(1000, resolve));
      c.close();
      return blocks;
    };
    // Not asked for: HAVE and the whole manifest, unrequested, in the session's first flight.
    const wanted = await sim.settle(got(true));
    // (the HAVE's flag says the manifest follows unasked)
    expect(wanted[0]).toEqual({ object: MANIFEST_BLOCK.have, offset: 3000, length: 1, first: 1 });
    const data = wanted.filter((b) => b.object === MANIFEST_BLOCK.data);
    expect(data.reduce((n, b) => n + b.length, 0)).toBe(3000);
    // A peer that did not say it wants it hears only that we hold it.
    const notWanted = await sim.settle(got(false));
    expect(notWanted).toEqual([{ object: MANIFEST_BLOCK.have, offset: 3000, length: 1, first: 0 }]);
    await sim.settle(Promise.all([a.close(), raw.close()]));
  });

  it('a device that may not upload (Wi-Fi / power policy) neither announces nor serves the manifest', async () => {
    const { sim, host } = world();
    const [ha, hs, hb] = [host('a'), host('silent'), host('b')];
    const a = await peerNetwork(sim, ha);
    a.expect(INFOHASH);
    let mayUpload = false;
    a.provideManifest(INFOHASH, MANIFEST, () => mayUpload);
    const b = await peerNetwork(sim, hb);
    b.expect(INFOHASH);
    void b.dial(INFOHASH, to(ha, a.publicKey));
    expect(await sim.settle(b.fetchManifest(INFOHASH, { sha256: SHA, budgetMs: 1000 }))).toBeUndefined();
    // Allowed again (back on Wi-Fi), it serves the sessions that open from then on.
    mayUpload = true;
    const c = await peerNetwork(sim, hs);
    c.expect(INFOHASH);
    void c.dial(INFOHASH, to(ha, a.publicKey));
    expect(await sim.settle(c.fetchManifest(INFOHASH, { sha256: SHA, budgetMs: 2000 }))).toBeDefined();
    await sim.settle(Promise.all([a.close(), b.close(), c.close()]));
  });

  it('a peer that has not said it holds the manifest is not asked', async () => {
    const { sim, host } = world();
    const [ha, hb] = [host('a'), host('b')];
    const [a, b] = [await peerNetwork(sim, ha), await peerNetwork(sim, hb)];
    a.expect(INFOHASH);
    b.expect(INFOHASH);
    void b.dial(INFOHASH, to(ha, a.publicKey));
    // a announces nothing, so b has no one to ask: the budget runs out, and a never saw a request.
    const got = await sim.settle(b.fetchManifest(INFOHASH, { sha256: SHA, budgetMs: 800 }));
    expect(got).toBeUndefined();
    await sim.settle(Promise.all([a.close(), b.close()]));
  });
});
