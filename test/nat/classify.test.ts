import { describe, expect, it } from 'vitest';
import { classifyNat } from '../../nat/classify.ts';
import { createStunClient } from '../../nat/stun/client.ts';
import { createSeededRandom } from '../../runtime/index.ts';
import { type Behaviour, createFakeNet } from './support/fake-net.ts';
import { createManualClock } from './support/manual-clock.ts';
import { startRfc5780Server } from './support/stun-fixture.ts';

const behaviours: Behaviour[] = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'];

async function classifyBehind(spec: { mapping: Behaviour; filtering: Behaviour; hairpin?: boolean } | null) {
  const clock = createManualClock();
  const random = createSeededRandom(42);
  const net = createFakeNet(clock, random);
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
