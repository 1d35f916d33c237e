import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gatherCandidates, orderRemoteCandidates } from '../../../nat/punch/candidates.ts';
import { decodePunch, encodePunch, isPunchDatagram, type PunchMessage } from '../../../nat/punch/codec.ts';

const bytes8 = fc.uint8Array({ minLength: 8, maxLength: 8 });
const message: fc.Arbitrary<PunchMessage> = fc.oneof(
  fc.record({
    type: fc.constantFrom('ping' as const, 'keepalive' as const),
    session: bytes8,
    transaction: bytes8,
  }),
  fc.record({
    type: fc.constant('pong' as const),
    session: bytes8,
    transaction: bytes8,
    observed: fc.record({
      host: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.')),
      port: fc.nat(65535),
    }),
  }),
);

describe('punch codec', () => {
  it('round-trips and stays in the 0x10-0x1f first-byte range the transport reserves', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodePunch(m);
        expect(isPunchDatagram(bytes)).toBe(true);
        expect(decodePunch(bytes)).toEqual(m);
      }),
      { seed: 1, numRuns: 500 },
    );
  });

  it('rejects arbitrary bytes with a decode error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        try {
          decodePunch(b);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('NAT_DECODE');
        }
      }),
      { seed: 2, numRuns: 2000 },
    );
  });
});

describe('candidates', () => {
  const mine = gatherCandidates({
    lan: [{ host: '192.168.1.5', port: 4000 }],
    reflexive: { host: '198.51.100.1', port: 4000 },
    mapped: null,
  });
  it('orders LAN candidates first only when both share a public address', () => {
    const sameHome = [
      { type: 'srflx' as const, host: '198.51.100.1', port: 4100 },
      { type: 'host' as const, host: '192.168.1.6', port: 4000 },
    ];
    expect(orderRemoteCandidates(mine, sameHome)[0]?.type).toBe('host');
    const elsewhere = [
      { type: 'host' as const, host: '192.168.1.6', port: 4000 },
      { type: 'srflx' as const, host: '198.51.100.9', port: 4100 },
      { type: 'mapped' as const, host: '198.51.100.9', port: 5000 },
    ];
    expect(orderRemoteCandidates(mine, elsewhere).map((c) => c.type)).toEqual(['mapped', 'srflx', 'host']);
  });
  it('drops unusable and duplicate candidates', () => {
    expect(
      gatherCandidates({
        lan: [
          { host: '0.0.0.0', port: 1 },
          { host: '10.0.0.1', port: 7 },
          { host: '10.0.0.1', port: 7 },
        ],
        reflexive: { host: '10.0.0.1', port: 7 },
      }),
    ).toEqual([{ type: 'srflx', host: '10.0.0.1', port: 7 }]);
  });
});
