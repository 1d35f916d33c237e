import { describe, expect, it } from 'vitest';
import { classifyNat } from '../../nat/classify.ts';
import { createStunClient } from '../../nat/stun/client.ts';
import { encodeStun } from '../../nat/stun/codec.ts';
import { createStunServer } from '../../nat/stun/server.ts';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { type Behaviour, createFakeNet } from './support/fake-net.ts';
import { createManualClock } from './support/manual-clock.ts';
import { startRfc5780Server } from './support/stun-fixture.ts';

const behaviours: Behaviour[] = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'];

async function classifyBehind(
  spec: { mapping: Behaviour; filtering: Behaviour; hairpin?: boolean } | null,
  latencyMs?: number,
) {
  const clock = createManualClock();
  const random = createSeededRandom(42);
  const net = createFakeNet(clock, random, latencyMs === undefined ? {} : { latencyMs });
  const { primary } = await startRfc5780Server(net);
  const realm = spec ? net.nat({ publicIp: '203.0.113.7', ...spec }) : net.internet;
  const device = net.host(spec ? '192.168.1.10' : '198.51.100.20', realm);
  const socket = await device.udp.bind({ port: 5000 });
  const client = createStunClient({}, { channel: socket, clock, random });
  const result = await clock.drive(
    classifyNat(
      { servers: [primary], local: [socket.localAddress()] },
      { client, channel: socket, clock, random },
    ),
  );
  return { result, elapsed: clock.now() - 1_000_000 };
}

describe('classifyNat (RFC 5780 server on a simulated network)', () => {
  for (const mapping of behaviours)
    for (const filtering of behaviours)
      it(`detects ${mapping} mapping / ${filtering} filtering`, async () => {
        const { result, elapsed } = await classifyBehind({ mapping, filtering, hairpin: true });
        expect(result.mapping).toBe(mapping);
        expect(result.filtering).toBe(filtering);
        expect(result.reflexive?.host).toBe('203.0.113.7');
        expect(elapsed).toBeLessThan(5000);
      });

  // A filtering NAT answers the CHANGE-REQUEST and hairpin tests with silence. The wait for it scales
  // with the round trip the first answer measured (3 RTTs, at least RTT + 2 RTOs), not the 1.5 s
  // transaction budget, which held every filtered device's probe and its rendezvous registration.
  it('a filtering NAT is classified in a few round trips, not the transaction budget', async () => {
    const { result, elapsed } = await classifyBehind({
      mapping: 'endpoint-independent',
      filtering: 'address-and-port-dependent',
      hairpin: false,
    });
    expect(result.filtering).toBe('address-and-port-dependent');
    expect(result.hairpin).toBe(false);
    // Before: 1500 ms for the filtering test alone, plus 1000 ms for the hairpin test.
    expect(elapsed).toBeLessThan(2 * (40 + 2 * 250) + 200);
  });

  it('on a long path the permissive answers still arrive within the wait', async () => {
    for (const filtering of behaviours) {
      const { result } = await classifyBehind(
        { mapping: 'endpoint-independent', filtering, hairpin: true },
        200,
      );
      expect(result.filtering).toBe(filtering);
      expect(result.hairpin).toBe(true);
    }
  });

  it('says "none" for a public address', async () => {
    const { result } = await classifyBehind(null);
    expect(result.mapping).toBe('none');
    expect(result.filtering).toBe('none');
    expect(result.reflexive).toEqual({ host: '198.51.100.20', port: 5000 });
    expect(result.hairpin).toBeNull();
  });

  it('detects hairpinning and its absence', async () => {
    const on = await classifyBehind({
      mapping: 'endpoint-independent',
      filtering: 'endpoint-independent',
      hairpin: true,
    });
    const off = await classifyBehind({
      mapping: 'endpoint-independent',
      filtering: 'endpoint-independent',
      hairpin: false,
    });
    expect(on.result.hairpin).toBe(true);
    expect(off.result.hairpin).toBe(false);
  });

  it('reports unknown with a reason when no server answers, within the budget', async () => {
    const clock = createManualClock();
    const random = createSeededRandom(1);
    const net = createFakeNet(clock, random);
    const socket = await net.host('198.51.100.20').udp.bind({ port: 5000 });
    const client = createStunClient({}, { channel: socket, clock, random });
    const result = await clock.drive(
      classifyNat(
        { servers: [{ host: '198.18.9.9', port: 3478 }], timeoutMs: 1500 },
        {
          client,
          channel: socket,
          clock,
          random,
        },
      ),
    );
    expect(result.mapping).toBe('unknown');
    expect(result.errors[0]).toMatch(/no STUN answer from 198\.18\.9\.9:3478/);
    expect(clock.now() - 1_000_000).toBeLessThan(2000);
  });
});

describe('classifyNat with two cooperating single-socket servers (edges), no RFC 5780 grid', () => {
  const setup = async (spec: { mapping: Behaviour; filtering: Behaviour }) => {
    const clock = createManualClock();
    const random = createSeededRandom(7);
    const net = createFakeNet(clock, random);
    const a = { host: '198.18.0.1', port: 3478 };
    const b = { host: '198.18.0.2', port: 3478 };
    const sa = await net.host(a.host).udp.bind({ port: a.port });
    const sb = await net.host(b.host).udp.bind({ port: b.port });
    const logger = createSilentLogger();
    createStunServer({ partners: [b] }, { sockets: { primary: { channel: sa, address: a } }, logger });
    const serverB = createStunServer(
      { partners: [a] },
      { sockets: { primary: { channel: sb, address: b } }, logger },
    );
    const realm = net.nat({ publicIp: '203.0.113.7', ...spec });
    const socket = await net.host('192.168.1.10', realm).udp.bind({ port: 5000 });
    const client = createStunClient({}, { channel: socket, clock, random });
    const result = await clock.drive(
      classifyNat(
        { servers: [a, b], local: [socket.localAddress()] },
        { client, channel: socket, clock, random },
      ),
    );
    return { result, serverB, net, clock, a, b };
  };

  it('endpoint-independent filtering is detected through the partner (other IP)', async () => {
    const { result } = await setup({ mapping: 'endpoint-independent', filtering: 'endpoint-independent' });
    expect(result).toMatchObject({ mapping: 'endpoint-independent', filtering: 'endpoint-independent' });
  });

  it('listing the partner too does not open the filter before the test: stricter filtering is not EIF', async () => {
    for (const filtering of ['address-dependent', 'address-and-port-dependent'] as const) {
      const { result } = await setup({ mapping: 'endpoint-independent', filtering });
      expect(result.mapping).toBe('endpoint-independent');
      expect(result.filtering).toBe('unknown');
      expect(result.errors.join()).toMatch(/address-dependent or stricter/);
    }
  });

  it('a destination-dependent mapping is reported as address-and-port-dependent, with the reason', async () => {
    const { result } = await setup({
      mapping: 'address-and-port-dependent',
      filtering: 'address-and-port-dependent',
    });
    expect(result.mapping).toBe('address-and-port-dependent');
    expect(result.errors.join()).toMatch(/no second port/);
  });

  it('a server ignores forwarded requests from non-partners (no reflection)', async () => {
    const { net, clock, a } = await setup({
      mapping: 'endpoint-independent',
      filtering: 'endpoint-independent',
    });
    const attacker = await net.host('198.51.100.66').udp.bind({ port: 1234 });
    const victim = await net.host('198.51.100.77').udp.bind({ port: 80 });
    let hits = 0;
    victim.onMessage(() => {
      hits++;
    });
    attacker.send(
      a,
      encodeStun({
        method: 1,
        class: 'request',
        transactionId: new Uint8Array(12),
        answerTo: { host: '198.51.100.77', port: 80 },
      }),
    );
    await clock.advance(100);
    expect(hits).toBe(0);
  });
});
