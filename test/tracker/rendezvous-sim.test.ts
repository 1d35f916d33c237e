import { describe, expect, it } from 'vitest';
import { createSimulation, natPresets } from '../../lab/sim/index.ts';
import { channelFromEndpoint, createPuncher, createStunClient, gatherCandidates } from '../../nat/index.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { hashToken } from '../../tracker/context.ts';
import { createMemorySwarmStore } from '../../tracker/memory-store.ts';
import { createRendezvousClient, type PunchGo } from '../../tracker/rendezvous-client.ts';
import { createRendezvousServer } from '../../tracker/rendezvous-server.ts';
import { createEndpoint, publicKeyOf } from '../../transport/index.ts';

const logger = createSilentLogger();
const TRACKER_PORT = 7001;

async function world(seed: number) {
  const sim = createSimulation({ seed });
  const eu = sim.addRegion({ name: 'eu' });
  const isp = sim.addIsp({ name: 'isp-a', region: eu });
  const trackerHost = sim.addServer({ name: 'tracker', region: eu });
  const socket = await sim.settle(trackerHost.udp.bind({ port: TRACKER_PORT }));
  const key = trackerHost.random.bytes(32);
  const endpoint = createEndpoint(
    { staticPrivateKey: key },
    { socket, clock: sim.clock, random: trackerHost.random, logger },
  );
  const swarmStore = createMemorySwarmStore({ random: createSeededRandom(seed), now: sim.clock.now });
  const tracker = { host: trackerHost.address, port: TRACKER_PORT };
  const server = createRendezvousServer(
    { advertised: tracker },
    { endpoint, swarmStore, clock: sim.clock, random: trackerHost.random, logger },
  );
  return { sim, isp, tracker, trackerKey: publicKeyOf(key), swarmStore, server };
}

async function device(w: Awaited<ReturnType<typeof world>>, deviceId: string) {
  const { sim } = w;
  const gateway = sim.addGateway({ isp: w.isp, nat: natPresets.portRestricted });
  const host = sim.addHost({ gateway });
  const socket = await sim.settle(host.udp.bind({ port: 4000 }));
  const endpoint = createEndpoint(
    { staticPrivateKey: host.random.bytes(32) },
    { socket, clock: sim.clock, random: host.random, logger },
  );
  const token = `token-of-${deviceId}`;
  await w.swarmStore.claimDevice(deviceId, hashToken(token)); // as its first announce would have
  const stun = createStunClient(
    {},
    { channel: channelFromEndpoint(endpoint), clock: sim.clock, random: host.random },
  );
  const binding = await sim.settle(stun.binding(w.tracker, { timeoutMs: 3000 }));
  const connection = await sim.settle(endpoint.connect(w.tracker, w.trackerKey));
  const client = createRendezvousClient(connection);
  const candidates = gatherCandidates({
    lan: [{ host: host.address, port: 4000 }],
    reflexive: binding.reflexive,
  });
  const registered = await sim.settle(
    client.register({
      deviceId,
      deviceToken: token,
      release: 'acme-fw@1.0.0',
      mapping: 'endpoint-independent',
      candidates,
    }),
  );
  const puncher = createPuncher(
    {},
    { clock: sim.clock, random: host.random, logger, port: channelFromEndpoint(endpoint) },
  );
  return { host, endpoint, client, candidates, registered, binding, puncher, gateway };
}

function punchWith(d: Awaited<ReturnType<typeof device>>, go: PunchGo) {
  return d.puncher.punch({
    session: go.session,
    local: d.candidates,
    remote: go.candidates,
    localMapping: 'endpoint-independent',
    remoteMapping: go.peerMapping,
  });
}

describe('rendezvous over the simulated network', () => {
  it('introduces two devices behind port-restricted NATs at once, and they punch through', async () => {
    const w = await world(3);
    const a = await device(w, 'device-a');
    const b = await device(w, 'device-b');
    // The tracker's UDP endpoint is also the STUN server: both agree on the reflexive address.
    expect(a.registered.observed).toEqual(a.binding.reflexive);
    expect(a.registered.observed.host).toBe(a.gateway.wanAddress);

    let arrivedB = -1;
    const introduced = new Promise<PunchGo>((resolve) =>
      b.client.onIntroduction((go) => {
        arrivedB = w.sim.clock.now();
        resolve(go);
      }),
    );
    const [goA, goB] = await w.sim.settle(Promise.all([a.client.punch('device-b'), introduced]));
    const arrivedA = w.sim.clock.now();
    expect(Math.abs(arrivedA - arrivedB)).toBeLessThan(5); // same instant, up to path differences
    expect(goA.role).toBe('initiator');
    expect(goB.role).toBe('responder');
    expect(goA.session).toEqual(goB.session);
    expect(goA.candidates[0]).toEqual({ type: 'srflx', ...b.registered.observed });
    expect(goB.candidates[0]).toEqual({ type: 'srflx', ...a.registered.observed });
    // Different homes: no LAN candidates are shown.
    expect(goA.candidates.some((c) => c.type === 'host')).toBe(false);

    const [sa, sb] = await w.sim.settle(Promise.all([punchWith(a, goA), punchWith(b, goB)]), {
      deadlineMs: 10_000,
    });
    expect(sa.remote).toEqual(b.registered.observed);
    expect(sb.remote).toEqual(a.registered.observed);
    sa.close();
    sb.close();
  });

  it('refuses a device id registered with the wrong token and unknown targets', async () => {
    const w = await world(4);
    const a = await device(w, 'device-a');
    await expect(w.sim.settle(a.client.punch('device-zz'))).rejects.toMatchObject({
      code: 'PEER_UNAVAILABLE',
    });
    const connection = await w.sim.settle(a.endpoint.connect(w.tracker, w.trackerKey));
    const impostor = createRendezvousClient(connection);
    await expect(
      w.sim.settle(
        impostor.register({
          deviceId: 'device-a',
          deviceToken: 'stolen',
          release: 'acme-fw@1.0.0',
          mapping: 'unknown',
          candidates: [],
        }),
      ),
    ).rejects.toMatchObject({ code: 'DEVICE_ID_TAKEN' });
  });
});
