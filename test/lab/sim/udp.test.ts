import { describe, expect, it } from 'vitest';
import { createSimulation } from '../../../lab/sim/index.ts';

describe('simulated UDP sockets', () => {
  it('bind, port conflicts, ephemeral ports, close', async () => {
    const sim = createSimulation();
    const host = sim.addServer({ name: 'h' });
    const a = await host.udp.bind({ port: 4000 });
    expect(a.localAddress()).toEqual({ host: host.address, port: 4000 });
    await expect(host.udp.bind({ port: 4000 })).rejects.toThrow(/in use/);
    await expect(host.udp.bind({ host: '10.9.9.9' })).rejects.toThrow(/no interface/);
    const e1 = await host.udp.bind();
    const e2 = await host.udp.bind({ host: '0.0.0.0' });
    expect(e1.localAddress().port).toBeGreaterThanOrEqual(49152);
    expect(e2.localAddress().port).not.toBe(e1.localAddress().port);
    await a.close();
    await expect(host.udp.bind({ port: 4000 })).resolves.toBeDefined();
  });

  it('never delivers inside send(), even over instant links; handlers can be removed', async () => {
    const sim = createSimulation();
    const a = sim.addServer({ name: 'a', link: {} });
    const b = sim.addServer({ name: 'b', link: {} });
    const sa = await a.udp.bind();
    const sb = await b.udp.bind({ port: 9 });
    const log: string[] = [];
    const off = sb.onMessage((bytes) => log.push(`got ${bytes[0]}`));
    sa.send(sb.localAddress(), new Uint8Array([1]));
    log.push('sent');
    await sim.run();
    expect(log).toEqual(['sent', 'got 1']);
    off();
    sa.send(sb.localAddress(), new Uint8Array([2]));
    await sim.run();
    expect(log).toEqual(['sent', 'got 1']);
    await sb.close();
    sa.send(sb.localAddress(), new Uint8Array([3]));
    await sim.run();
    expect(a.counters.dropped['no-listener']).toBe(1);
  });

  it('copies the payload on send, as real UDP does', async () => {
    const sim = createSimulation();
    const a = sim.addServer({ name: 'a' });
    const b = sim.addServer({ name: 'b' });
    const sa = await a.udp.bind();
    const sb = await b.udp.bind({ port: 9 });
    const got: number[] = [];
    sb.onMessage((bytes) => got.push(bytes[0]!));
    const buffer = new Uint8Array([1]);
    sa.send(sb.localAddress(), buffer);
    buffer[0] = 2;
    sa.send(sb.localAddress(), buffer);
    await sim.run();
    expect(got).toEqual([1, 2]);
  });

  it('sendOwned hands the buffer itself over (the sender gave it up), closed sockets drop it', async () => {
    const sim = createSimulation();
    const a = sim.addServer({ name: 'a' });
    const b = sim.addServer({ name: 'b' });
    const sa = await a.udp.bind();
    const sb = await b.udp.bind({ port: 9 });
    const got: Uint8Array[] = [];
    sb.onMessage((bytes) => got.push(bytes));
    const owned = new Uint8Array([7, 8]);
    const copied = new Uint8Array([9]);
    sa.sendOwned!(sb.localAddress(), owned);
    sa.send(sb.localAddress(), copied);
    await sim.run();
    expect(got[0]).toBe(owned);
    expect(got[1]).not.toBe(copied);
    expect([...got[1]!]).toEqual([9]);
    expect(a.counters.udpTxBytes).toBe(3);
    await sa.close();
    sa.sendOwned!(sb.localAddress(), new Uint8Array([1]));
    await sim.run();
    expect(got).toHaveLength(2);
  });
});
