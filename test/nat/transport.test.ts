import { describe, expect, it } from 'vitest';
import { createSimulation, natPresets, type SimHost } from '../../lab/sim/index.ts';
import {
  candidatesFromReport,
  channelFromEndpoint,
  createPuncher,
  createStunServer,
  probeReachability,
} from '../../nat/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { createEndpoint, keyPairFromSeed } from '../../transport/index.ts';

// STUN and punching on the transport's own socket (through Endpoint raw datagrams), then a PZ session
// over the punched path: the mapping we learn is the one the session uses.
describe('NAT traversal on the transport endpoint (lab/sim)', () => {
  it('two port-restricted devices punch and open a PZ session over the punched pair', async () => {
    const sim = createSimulation({ seed: 77 });
    const eu = sim.addRegion({ name: 'eu' });
    const stunHost = sim.addServer({ name: 'stun', region: eu });
    const stunSocket = await sim.settle(stunHost.udp.bind({ port: 3478 }));
    createStunServer(
      {},
      {
        sockets: { primary: { channel: stunSocket, address: { host: stunHost.address, port: 3478 } } },
        logger: createSilentLogger(),
      },
    );
    const device = async (name: string, seed: number) => {
      const isp = sim.addIsp({ name, region: eu });
      const host: SimHost = sim.addHost({ gateway: sim.addGateway({ isp, nat: natPresets.portRestricted }) });
      const env = host.env({ logger: createSilentLogger() });
      const socket = await sim.settle(host.udp.bind({ port: 4000 }));
      const endpoint = createEndpoint(
        { staticPrivateKey: keyPairFromSeed(new Uint8Array(32).fill(seed)).privateKey },
        { socket, clock: env.clock, random: env.random, logger: env.logger },
      );
      const channel = channelFromEndpoint(endpoint);
      const { report } = await sim.settle(
        probeReachability(
          {
            stun: [{ host: stunHost.address, port: 3478 }],
            lan: [{ host: host.address, port: 4000 }],
            port: 4000,
            portMapping: null,
          },
          { ...env, channel },
        ),
      );
      const puncher = createPuncher({}, { ...env, port: channel });
      return { endpoint, report, puncher };
    };
    const a = await device('isp-a', 1);
    const b = await device('isp-b', 2);
    // A single-socket STUN server: mapping known only as far as one server tells; reflexive is right.
    expect(a.report.reflexive?.port).toBe(4000);
    const session = new Uint8Array(8).fill(9);
    const [pa, pb] = await sim.settle(
      Promise.all([
        a.puncher.punch({
          session,
          local: candidatesFromReport(a.report),
          remote: candidatesFromReport(b.report),
        }),
        b.puncher.punch({
          session,
          local: candidatesFromReport(b.report),
          remote: candidatesFromReport(a.report),
        }),
      ]),
    );
    expect(pa.remote).toEqual(b.report.reflexive);
    const accepted = new Promise<void>((resolve) => b.endpoint.onConnection(() => resolve()));
    const connection = await sim.settle(
      a.endpoint.connect(pa.remote, b.endpoint.publicKey, { timeoutMs: 5000 }),
    );
    await sim.settle(accepted);
    expect(connection.remoteAddress()).toEqual(pa.remote);
    pa.close();
    pb.close();
    connection.close();
    await sim.settle(Promise.all([a.endpoint.close(), b.endpoint.close()]));
  });
});
