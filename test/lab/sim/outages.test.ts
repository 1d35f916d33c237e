import { describe, expect, it } from 'vitest';
import { createSimulation, natPresets } from '../../../lab/sim/index.ts';
import { observe, startEchoServer } from './nat-helpers.ts';

describe('outages and NAT rebinding', () => {
  it('a link taken down drops packets as link-down and fails new HTTP requests until it is back', async () => {
    const sim = createSimulation({ seed: 1 });
    const region = sim.addRegion({ name: 'r' });
    const server = sim.addServer({ name: 'server', region });
    sim.serveHttp(server, 80, () => ({ status: 204, headers: {}, body: new Uint8Array() }));
    const srv = await server.udp.bind({ port: 7 });
    let received = 0;
    srv.onMessage(() => received++);
    const isp = sim.addIsp({ name: 'isp', region });
    const gateway = sim.addGateway({ isp });
    const phone = sim.addHost({ gateway });
    const socket = await phone.udp.bind();
    sim.setLinkUp(gateway, false);
    socket.send(srv.localAddress(), new Uint8Array(10));
    await sim.run();
    expect(received).toBe(0);
    expect(phone.counters.dropped['link-down']).toBe(1);
    await expect(sim.settle(phone.http.request({ method: 'GET', url: 'http://server/' }))).rejects.toThrow(
      /ETIMEDOUT/,
    );
    sim.setLinkUp(gateway, true);
    socket.send(srv.localAddress(), new Uint8Array(10));
    await sim.run();
    expect(received).toBe(1);
    expect((await sim.settle(phone.http.request({ method: 'GET', url: 'http://server/' }))).status).toBe(204);
  });

  it('flushing a NAT (reboot / rebinding) gives the next packet a new external port', async () => {
    const sim = createSimulation({ seed: 1 });
    const region = sim.addRegion({ name: 'r' });
    const stun = sim.addServer({ name: 'stun', region });
    await startEchoServer(stun);
    const isp = sim.addIsp({ name: 'isp', region });
    const gateway = sim.addGateway({
      isp,
      nat: { ...natPresets.portRestricted, portAssignment: 'sequential' },
    });
    const socket = await sim.addHost({ gateway }).udp.bind({ port: 4000 });
    const server = { host: stun.address, port: 3478 };
    const before = await observe(sim, socket, server);
    expect((await observe(sim, socket, server)).port).toBe(before.port);
    gateway.nat.flush();
    const after = await observe(sim, socket, server);
    expect(after.host).toBe(before.host);
    expect(after.port).not.toBe(before.port);
  });
});
