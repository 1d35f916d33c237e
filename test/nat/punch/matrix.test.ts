import { afterAll, describe, expect, it } from 'vitest';
import { gatherCandidates } from '../../../nat/punch/candidates.ts';
import { createPuncher, type PuncherOptions, type PunchSession } from '../../../nat/punch/puncher.ts';
import type { MappingBehaviour } from '../../../nat/report.ts';
import { createSeededRandom, createSilentLogger } from '../../../runtime/index.ts';
import { type Behaviour, createFakeNet, type FakeNet } from '../support/fake-net.ts';
import { createManualClock, type ManualClock } from '../support/manual-clock.ts';

type Kind = 'public' | 'full-cone' | 'restricted' | 'port-restricted' | 'symmetric';
const KINDS: Kind[] = ['public', 'full-cone', 'restricted', 'port-restricted', 'symmetric'];
const SPEC: Record<Exclude<Kind, 'public'>, { mapping: Behaviour; filtering: Behaviour }> = {
  'full-cone': { mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  restricted: { mapping: 'endpoint-independent', filtering: 'address-dependent' },
  'port-restricted': { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  symmetric: { mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' },
};
/** RFC 4787 / Ford et al.: punching cannot work when one side is symmetric and the other filters by port. */
function expected(a: Kind, b: Kind): boolean {
  const bad = (x: Kind, y: Kind) => x === 'symmetric' && (y === 'symmetric' || y === 'port-restricted');
  return !(bad(a, b) || bad(b, a));
}

interface Peer {
  candidates: ReturnType<typeof gatherCandidates>;
  mapping: MappingBehaviour;
  puncher: ReturnType<typeof createPuncher>;
}

/** A device with its puncher; its server-reflexive address is what the NAT gives towards the STUN server. */
async function peer(
  net: FakeNet,
  clock: ManualClock,
  seed: number,
  ip: string,
  kind: Kind,
  publicIp: string,
  options: PuncherOptions = {},
) {
  const realm = kind === 'public' ? net.internet : net.nat({ publicIp, ...SPEC[kind] });
  return device(net, clock, seed, ip, realm, kind === 'public' ? 'none' : SPEC[kind].mapping, options);
}

async function device(
  net: FakeNet,
  clock: ManualClock,
  seed: number,
  ip: string,
  realm: Parameters<FakeNet['host']>[1],
  mapping: MappingBehaviour,
  options: PuncherOptions = {},
): Promise<Peer> {
  const socket = await net.host(ip, realm).udp.bind({ port: 4000 });
  // Learn the reflexive address the way STUN would: ask an echo server on the internet.
  const reflexive = await new Promise<{ host: string; port: number }>((resolve) => {
    const off = socket.onMessage((bytes) => {
      off();
      const text = new TextDecoder().decode(bytes).split(':');
      resolve({ host: text[0]!, port: Number(text[1]) });
    });
    socket.send({ host: '198.18.0.1', port: 3478 }, new Uint8Array([1]));
    void clock.advance(100);
  });
  const puncher = createPuncher(options, {
    clock,
    random: createSeededRandom(seed),
    logger: createSilentLogger(),
    port: socket,
  });
  return { candidates: gatherCandidates({ lan: [socket.localAddress()], reflexive }), mapping, puncher };
}

async function echoServer(net: FakeNet) {
  const s = await net.host('198.18.0.1').udp.bind({ port: 3478 });
  s.onMessage((_, from) => s.send(from, new TextEncoder().encode(`${from.host}:${from.port}`)));
}

async function punchPair(clock: ManualClock, a: Peer, b: Peer, session = new Uint8Array(8).fill(7)) {
  const start = clock.now();
  const run = (x: Peer, y: Peer) =>
    x.puncher
      .punch({
        session,
        local: x.candidates,
        remote: y.candidates,
        localMapping: x.mapping,
        remoteMapping: y.mapping,
      })
      .then(
        (s: PunchSession) => ({ ok: true as const, session: s }),
        (e: Error) => ({ ok: false as const, error: e }),
      );
  const both = Promise.all([run(a, b), run(b, a)]);
  const [ra, rb] = await clock.drive(both, 10_000);
  return { ra, rb, elapsed: clock.now() - start };
}

const matrix: string[] = [];
afterAll(() => {
  // The pair matrix for the closing note (virtual time, 10 ms one-way link latency).
  console.log(`\nsimulated punch matrix (virtual ms to connect, 10 ms one-way):\n${matrix.join('\n')}`);
});

describe('hole punching across the RFC 4787 NAT matrix (in-memory network)', () => {
  for (const [i, a] of KINDS.entries())
    for (const b of KINDS.slice(i)) {
      const want = expected(a, b);
      it(`${a} <-> ${b}: ${want ? 'connects' : 'fails fast with a reason'}`, async () => {
        const clock = createManualClock();
        const net = createFakeNet(clock, createSeededRandom(100 + i), { latencyMs: 10 });
        await echoServer(net);
        const pa = await peer(
          net,
          clock,
          1,
          a === 'public' ? '198.51.100.10' : '192.168.1.10',
          a,
          '203.0.113.1',
        );
        const pb = await peer(
          net,
          clock,
          2,
          b === 'public' ? '198.51.100.20' : '192.168.2.20',
          b,
          '203.0.113.2',
        );
        const { ra, rb, elapsed } = await punchPair(clock, pa, pb);
        if (want) {
          expect(ra.ok && rb.ok).toBe(true);
          if (ra.ok && rb.ok) {
            expect(ra.session.remote.host).toMatch(/^(203\.0\.113\.2|198\.51\.100\.20)$/);
            // A symmetric peer reaches us from a port nobody told us about: learned peer-reflexive.
            if (b === 'symmetric') expect(ra.session.via).toBe('prflx');
            matrix.push(
              `${a.padEnd(16)} ${b.padEnd(16)} connected  ${Math.max(ra.session.elapsedMs, rb.session.elapsedMs)} ms`,
            );
            ra.session.close();
            rb.session.close();
          }
        } else {
          expect(ra.ok || rb.ok).toBe(false);
          expect(elapsed).toBeLessThan(3000);
          if (!ra.ok) expect(ra.error.message).toMatch(/no answer in 2500 ms .*symmetric/);
          matrix.push(
            `${a.padEnd(16)} ${b.padEnd(16)} failed     ${elapsed} ms (${ra.ok ? '' : ra.error.message.slice(0, 60)}...)`,
          );
        }
      });
    }

  it('two subscribers of one hairpinning CGN connect (through the CGN); without hairpin they fail', async () => {
    for (const hairpin of [true, false]) {
      const clock = createManualClock();
      const net = createFakeNet(clock, createSeededRandom(5), { latencyMs: 10 });
      await echoServer(net);
      const cgn = net.nat({ publicIp: '203.0.113.50', ...SPEC['port-restricted'], hairpin });
      const homeA = net.nat({ publicIp: '100.64.0.2', ...SPEC['port-restricted'] }, cgn);
      const homeB = net.nat({ publicIp: '100.64.0.3', ...SPEC['port-restricted'] }, cgn);
      const a = await device(net, clock, 1, '192.168.1.10', homeA, 'endpoint-independent');
      const b = await device(net, clock, 2, '192.168.1.10', homeB, 'endpoint-independent');
      const { ra, rb, elapsed } = await punchPair(clock, a, b);
      expect(ra.ok && rb.ok).toBe(hairpin);
      if (ra.ok) expect(ra.session.remote.host).toBe('203.0.113.50');
      matrix.push(
        `CGN (hairpin ${hairpin ? 'on' : 'off'})   two subscribers  ${ra.ok && rb.ok ? 'connected' : 'failed   '}  ${elapsed} ms`,
      );
    }
  });

  it('two devices behind one home gateway connect over LAN candidates even without hairpin', async () => {
    const clock = createManualClock();
    const net = createFakeNet(clock, createSeededRandom(6), { latencyMs: 10 });
    await echoServer(net);
    const home = net.nat({ publicIp: '203.0.113.60', ...SPEC.symmetric, hairpin: false });
    const a = await device(net, clock, 1, '192.168.1.10', home, 'address-and-port-dependent');
    const b = await device(net, clock, 2, '192.168.1.11', home, 'address-and-port-dependent');
    const { ra, rb } = await punchPair(clock, a, b);
    expect(ra.ok && rb.ok).toBe(true);
    if (ra.ok && rb.ok) {
      expect(ra.session.via).toBe('host');
      expect(ra.session.remote).toEqual({ host: '192.168.1.11', port: 4000 });
      matrix.push(
        `same home (symmetric, no hairpin)  LAN candidates   connected  ${ra.session.elapsedMs} ms`,
      );
    }
  });

  it('the side that connects first and closes its punch at once (as the agent does) still answers the other', async () => {
    // A symmetric peer's probe reaches the full-cone side from a new port, which answers: the symmetric
    // side is through first. The full-cone side only hears back once it probes that peer-reflexive port.
    const clock = createManualClock();
    const net = createFakeNet(clock, createSeededRandom(7), { latencyMs: 10 });
    await echoServer(net);
    const a = await peer(net, clock, 1, '192.168.1.10', 'full-cone', '203.0.113.1');
    const b = await peer(net, clock, 2, '192.168.2.20', 'symmetric', '203.0.113.2');
    const session = new Uint8Array(8).fill(9);
    const run = (x: Peer, y: Peer) =>
      x.puncher
        .punch({
          session,
          local: x.candidates,
          remote: y.candidates,
          localMapping: x.mapping,
          remoteMapping: y.mapping,
        })
        .then((s) => {
          s.close();
          return s.remote;
        });
    const [ra, rb] = await clock.drive(Promise.all([run(a, b), run(b, a)]), 10_000);
    expect(ra.host).toBe('203.0.113.2');
    expect(rb.host).toBe('203.0.113.1');
    // Once the lingering session ends, a closed punch answers nobody (no amplification).
    await clock.advance(10_000);
    const before = net.stats().sent;
    a.puncher.close();
    await clock.advance(1_000);
    expect(net.stats().sent - before).toBe(0);
  });

  it('keeps the mapping alive with keepalives and ignores strangers', async () => {
    const clock = createManualClock();
    const net = createFakeNet(clock, createSeededRandom(8), { latencyMs: 10 });
    await echoServer(net);
    const a = await peer(net, clock, 1, '192.168.1.10', 'port-restricted', '203.0.113.1');
    const b = await peer(net, clock, 2, '192.168.2.20', 'port-restricted', '203.0.113.2');
    const { ra } = await punchPair(clock, a, b);
    expect(ra.ok).toBe(true);
    const before = net.stats().sent;
    await clock.advance(60_000);
    const sent = net.stats().sent - before;
    expect(sent).toBeGreaterThanOrEqual(6); // 4 keepalives per side per minute at 15 s
    expect(sent).toBeLessThanOrEqual(10);
    if (ra.ok) ra.session.close();
  });

  it('birthday probing is opt-in, bounded, and off on battery', async () => {
    const sentWith = async (onBattery: boolean) => {
      const clock = createManualClock();
      const net = createFakeNet(clock, createSeededRandom(9), { latencyMs: 10 });
      await echoServer(net);
      const birthday = { enabled: true, maxProbes: 64 };
      const a = await peer(net, clock, 1, '192.168.1.10', 'port-restricted', '203.0.113.1', {
        birthday,
        onBattery,
      });
      const b = await peer(net, clock, 2, '192.168.2.20', 'symmetric', '203.0.113.2');
      const before = net.stats().sent;
      const { ra, elapsed } = await punchPair(clock, a, b);
      expect(elapsed).toBeLessThan(3000);
      return { ok: ra.ok, sent: net.stats().sent - before };
    };
    const probing = await sentWith(false);
    const battery = await sentWith(true);
    expect(probing.sent - battery.sent).toBe(64);
    expect(battery.ok).toBe(false);
  });
});
