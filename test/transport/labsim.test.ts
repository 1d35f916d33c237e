import { describe, expect, it } from 'vitest';
import { createSimulation, natPresets, profiles } from '../../lab/sim/index.ts';
import { createSilentLogger, type UdpSocket } from '../../runtime/index.ts';
import { createEndpoint } from '../../transport/index.ts';
import { equalBytes, patternBytes } from './util/pair.ts';

// The same driver on the lab's simulated internet (lab/sim): a phone on an Indian mobile profile
// (800 ms RTT, 1.5 % loss) behind a home NAT downloads from an edge; mid-transfer the router forgets
// its mappings (NAT rebinding), so the phone's packets arrive from a new public port.
describe('transport on lab/sim', () => {
  it('downloads byte-exact over a lossy mobile link through NAT, surviving a NAT rebinding', async () => {
    const sim = createSimulation({ seed: 9 });
    const region = sim.addRegion({ name: 'asia' });
    const isp = sim.addIsp({ name: 'isp-in', region });
    const edgeHost = sim.addServer({ name: 'edge', region });
    // Random port assignment, so a flushed mapping comes back on a different public port.
    const home = sim.addGateway({
      isp,
      nat: { ...natPresets.portRestricted, portAssignment: 'random' },
      link: profiles.country('India'),
    });
    const phone = sim.addHost({ gateway: home });
    const logger = createSilentLogger();
    const edge = createEndpoint(
      { staticPrivateKey: edgeHost.random.bytes(32) },
      { socket: await edgeHost.udp.bind({ port: 4433 }), clock: sim.clock, random: edgeHost.random, logger },
    );
    const device = createEndpoint(
      { staticPrivateKey: phone.random.bytes(32) },
      { socket: await phone.udp.bind({ port: 5000 }), clock: sim.clock, random: phone.random, logger },
    );
    const data = patternBytes(1024 * 1024, 33);
    let edgeSide: import('../../transport/index.ts').Connection | undefined;
    let firstSeenPort = 0;
    edge.onConnection((c) => {
      edgeSide = c;
      firstSeenPort = c.remoteAddress().port;
      let offset = 0;
      const push = (): void => {
        while (
          offset < data.length &&
          c.sendBlock({ object: 0, offset, data: data.subarray(offset, offset + 32768) })
        )
          offset += 32768;
      };
      c.onDrain(push);
      push();
    });
    const conn = await sim.settle(device.connect(edge.localAddress(), edge.publicKey));
    const out = new Uint8Array(data.length);
    let got = 0;
    let rebound = false;
    const done = new Promise<void>((resolve) => {
      conn.onBlock((b) => {
        out.set(b.data, b.offset);
        got += b.data.length;
        if (!rebound && got > data.length / 3) {
          rebound = true;
          home.nat.flush();
        }
        if (got >= data.length) resolve();
      });
    });
    await sim.settle(done, { deadlineMs: 120_000 });
    expect(rebound).toBe(true);
    expect(equalBytes(out, data)).toBe(true);
    expect(edge.stats().connections).toBe(1);
    // The edge now talks to the phone's new public port: the session migrated instead of restarting.
    expect(edgeSide!.remoteAddress().port).not.toBe(firstSeenPort);
  }, 60_000);

  it('gives every datagram up to sendOwned when the socket has it: each a buffer of its own', async () => {
    const sim = createSimulation({ seed: 3 });
    const a = sim.addServer({ name: 'a' });
    const b = sim.addServer({ name: 'b' });
    const logger = createSilentLogger();
    const seen = new Set<ArrayBufferView>();
    let owned = 0;
    let copied = 0;
    const socket = await a.udp.bind({ port: 4433 });
    const recording: UdpSocket = {
      localAddress: () => socket.localAddress(),
      onMessage: (h) => socket.onMessage(h),
      close: () => socket.close(),
      send(to, bytes) {
        copied++;
        socket.send(to, bytes);
      },
      sendOwned(to, bytes) {
        owned++;
        expect(seen.has(bytes)).toBe(false);
        seen.add(bytes);
        socket.sendOwned!(to, bytes);
      },
    };
    const server = createEndpoint(
      { staticPrivateKey: a.random.bytes(32) },
      { socket: recording, clock: sim.clock, random: a.random, logger },
    );
    const client = createEndpoint(
      { staticPrivateKey: b.random.bytes(32) },
      { socket: await b.udp.bind(), clock: sim.clock, random: b.random, logger },
    );
    const data = patternBytes(256 * 1024, 5);
    server.onConnection((c) => {
      c.sendBlock({ object: 0, offset: 0, data });
    });
    const conn = await sim.settle(client.connect(server.localAddress(), server.publicKey));
    const out = new Uint8Array(data.length);
    let got = 0;
    await sim.settle(
      new Promise<void>((resolve) =>
        conn.onBlock((block) => {
          out.set(block.data, block.offset);
          got += block.data.length;
          if (got >= data.length) resolve();
        }),
      ),
    );
    expect(equalBytes(out, data)).toBe(true);
    expect(owned).toBeGreaterThan(200);
    expect(copied).toBe(0);
  });
});
