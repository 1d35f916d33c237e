import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../../runtime/index.ts';
import { type Registration, Rendezvous } from '../../tracker/rendezvous.ts';
import {
  createFrameReader,
  decodeRendezvous,
  encodeRendezvous,
  frame,
  RendezvousDecodeError,
  type RendezvousMessage,
} from '../../tracker/rendezvous-codec.ts';
import { createManualClock } from './helpers.ts';

const str = fc.string({ maxLength: 60 });
const mapping = fc.constantFrom(
  'none',
  'endpoint-independent',
  'address-dependent',
  'address-and-port-dependent',
  'unknown',
) as fc.Arbitrary<'none'>;
const addr = fc.record({ host: str, port: fc.integer({ min: 0, max: 65535 }) });
const candidate = fc.record({
  type: fc.constantFrom('host', 'srflx', 'mapped', 'prflx') as fc.Arbitrary<'host'>,
  host: str,
  port: fc.integer({ min: 0, max: 65535 }),
});
const candidates = fc.array(candidate, { maxLength: 16 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const message: fc.Arbitrary<RendezvousMessage> = fc.oneof(
  fc.record({
    type: fc.constant('register' as const),
    deviceId: str,
    deviceToken: str,
    release: str,
    mapping,
    candidates,
  }),
  fc.record({
    type: fc.constant('registered' as const),
    keepaliveSec: fc.integer({ min: 0, max: 65535 }),
    observed: addr,
  }),
  fc.record({ type: fc.constant('punch-request' as const), requestId: u32, target: str }),
  fc.record({
    type: fc.constant('punch-go' as const),
    requestId: u32,
    session: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    peer: str,
    peerMapping: mapping,
    role: fc.constantFrom('initiator', 'responder') as fc.Arbitrary<'initiator'>,
    candidates,
  }),
  fc.record({ type: fc.constant('error' as const), requestId: u32, code: str, message: str }),
);

describe('rendezvous codec', () => {
  it('round-trips every message', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeRendezvous(encodeRendezvous(m))).toEqual(m);
      }),
    );
  });

  it('refuses garbage with RendezvousDecodeError only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          decodeRendezvous(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(RendezvousDecodeError);
        }
      }),
    );
    fc.assert(
      fc.property(message, fc.integer({ min: 0, max: 200 }), (m, cut) => {
        const bytes = encodeRendezvous(m);
        if (cut >= bytes.length) return;
        expect(() => decodeRendezvous(bytes.subarray(0, cut))).toThrow(RendezvousDecodeError);
      }),
    );
  });

  it('reassembles frames split at any point', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 7 }),
        (ms, step) => {
          const bytes = Buffer.concat(ms.map(frame));
          const got: RendezvousMessage[] = [];
          const read = createFrameReader((f) => got.push(decodeRendezvous(f)));
          for (let i = 0; i < bytes.length; i += step) read(bytes.subarray(i, i + step));
          expect(got).toEqual(ms);
        },
      ),
    );
  });
});

describe('rendezvous core', () => {
  const reg = (
    session: string,
    deviceId: string,
    host: string,
    over: Partial<Registration> = {},
  ): Registration => ({
    session,
    deviceId,
    release: 'acme-fw@1.0.0',
    mapping: 'endpoint-independent',
    candidates: [{ type: 'host', host: '192.168.1.5', port: 4000 }],
    observed: { host, port: 40000 },
    ...over,
  });

  it("introduces both sides at once with each other's candidates, LAN ones only on the same LAN", () => {
    const core = new Rendezvous(
      { keepaliveSec: 20, punchesPerMinute: 30 },
      { clock: createManualClock(), random: createSeededRandom(1) },
    );
    expect(core.register(reg('s-a', 'dev-a', '60.0.0.1'))[0]?.message).toEqual({
      type: 'registered',
      keepaliveSec: 20,
      observed: { host: '60.0.0.1', port: 40000 },
    });
    core.register(reg('s-b', 'dev-b', '60.0.0.2', { mapping: 'address-dependent' }));
    const out = core.punch('s-a', 7, 'dev-b');
    expect(out.map((o) => o.session)).toEqual(['s-a', 's-b']);
    const [toA, toB] = out.map((o) => o.message) as Array<Extract<RendezvousMessage, { type: 'punch-go' }>>;
    expect(toA).toMatchObject({
      requestId: 7,
      peer: 'dev-b',
      role: 'initiator',
      peerMapping: 'address-dependent',
    });
    expect(toB).toMatchObject({
      requestId: 0,
      peer: 'dev-a',
      role: 'responder',
      peerMapping: 'endpoint-independent',
    });
    expect(toA?.session).toEqual(toB?.session);
    expect(toA?.candidates).toEqual([{ type: 'srflx', host: '60.0.0.2', port: 40000 }]);

    core.register(reg('s-c', 'dev-c', '60.0.0.1', { observed: { host: '60.0.0.1', port: 40001 } }));
    const lan = core.punch('s-a', 8, 'dev-c')[0]?.message as Extract<RendezvousMessage, { type: 'punch-go' }>;
    expect(lan.candidates.map((c) => c.type)).toEqual(['srflx', 'host']);
  });

  it('refuses unregistered askers, unknown or other-release targets, scope violations and floods', () => {
    const core = new Rendezvous(
      { keepaliveSec: 20, punchesPerMinute: 3 },
      {
        clock: createManualClock(),
        random: createSeededRandom(1),
        mayPair: (_a, b) => b.deviceId !== 'dev-far',
      },
    );
    const code = (out: ReturnType<Rendezvous['punch']>) =>
      (out[0]?.message as { code?: string } | undefined)?.code;
    expect(code(core.punch('nobody', 1, 'dev-b'))).toBe('NOT_REGISTERED');
    core.register(reg('s-a', 'dev-a', '60.0.0.1'));
    core.register(reg('s-o', 'dev-o', '60.0.0.3', { release: 'other@1.0.0' }));
    core.register(reg('s-f', 'dev-far', '60.0.0.4'));
    expect(code(core.punch('s-a', 1, 'dev-ghost'))).toBe('PEER_UNAVAILABLE');
    expect(code(core.punch('s-a', 2, 'dev-o'))).toBe('PEER_UNAVAILABLE');
    expect(code(core.punch('s-a', 3, 'dev-far'))).toBe('PEER_UNAVAILABLE');
    expect(code(core.punch('s-a', 4, 'dev-a'))).toBe('RATE_LIMITED');
  });

  it('forgets a device when its session closes and follows it to a new session', () => {
    const core = new Rendezvous(
      { keepaliveSec: 20, punchesPerMinute: 30 },
      { clock: createManualClock(), random: createSeededRandom(1) },
    );
    core.register(reg('s-a', 'dev-a', '60.0.0.1'));
    core.register(reg('s-b1', 'dev-b', '60.0.0.2'));
    core.register(reg('s-b2', 'dev-b', '60.0.0.9'));
    expect(core.size).toBe(2);
    expect(core.punch('s-a', 1, 'dev-b')[1]?.session).toBe('s-b2');
    core.disconnect('s-b1'); // stale session: no effect
    expect(core.registration('dev-b')?.session).toBe('s-b2');
    core.disconnect('s-b2');
    expect(core.registration('dev-b')).toBeUndefined();
  });
});
