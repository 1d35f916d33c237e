import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeStun, encodeStun, looksLikeStun, type StunMessage } from '../../../nat/stun/codec.ts';

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const address = fc.record({ host: ipv4, port: fc.nat(65535) });
const message: fc.Arbitrary<StunMessage> = fc.record(
  {
    method: fc.constant(1),
    class: fc.constantFrom('request' as const, 'success' as const, 'error' as const, 'indication' as const),
    transactionId: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    xorMappedAddress: address,
    mappedAddress: address,
    responseOrigin: address,
    otherAddress: address,
    changeRequest: fc.record({ changeIp: fc.boolean(), changePort: fc.boolean() }),
    errorCode: fc.record({ code: fc.integer({ min: 300, max: 699 }), reason: fc.string({ maxLength: 40 }) }),
    software: fc.string({ maxLength: 60 }),
  },
  { requiredKeys: ['method', 'class', 'transactionId'] },
);

// RFC 5769 §2.2: sample IPv4 response (with MESSAGE-INTEGRITY, which we skip, and FINGERPRINT).
const RFC5769_RESPONSE = Uint8Array.from([
  0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87,
  0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
  0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91,
  0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
  0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
]);

describe('STUN codec', () => {
  it('decodes the RFC 5769 sample response, FINGERPRINT included', () => {
    const m = decodeStun(RFC5769_RESPONSE);
    expect(m.class).toBe('success');
    expect(m.method).toBe(1);
    expect(m.software).toBe('test vector');
    expect(m.xorMappedAddress).toEqual({ host: '192.0.2.1', port: 32853 });
    expect(m.hasFingerprint).toBe(true);
  });

  it('rejects the sample once a byte is flipped (FINGERPRINT catches it)', () => {
    const bad = RFC5769_RESPONSE.slice();
    bad[30] = bad[30]! ^ 0x01;
    expect(() => decodeStun(bad)).toThrow(/FINGERPRINT/);
  });

  it('round-trips every message it can encode', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeStun(m);
        expect(looksLikeStun(bytes)).toBe(true);
        const back = decodeStun(bytes);
        expect(back.class).toBe(m.class);
        expect(back.method).toBe(m.method);
        expect([...back.transactionId]).toEqual([...m.transactionId]);
        expect(back.xorMappedAddress).toEqual(m.xorMappedAddress);
        expect(back.mappedAddress).toEqual(m.mappedAddress);
        expect(back.responseOrigin).toEqual(m.responseOrigin);
        expect(back.otherAddress).toEqual(m.otherAddress);
        expect(back.changeRequest).toEqual(m.changeRequest);
        if (m.errorCode) expect(back.errorCode?.code).toBe(m.errorCode.code);
        expect(back.hasFingerprint).toBe(true);
      }),
      { seed: 5, numRuns: 300 },
    );
  });

  it('never throws anything but a decode error, never hangs, on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeStun(bytes);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('NAT_DECODE');
        }
      }),
      { seed: 6, numRuns: 2000 },
    );
  });

  it('rejects truncations and bit flips of valid messages with a decode error', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.nat(7), (m, position, bit) => {
        const bytes = encodeStun(m);
        const cut = bytes.subarray(0, position % bytes.length);
        expect(() => decodeStun(cut)).toThrow();
        const flipped = bytes.slice();
        const at = position % bytes.length;
        flipped[at] = flipped[at]! ^ (1 << bit);
        // Flips inside the transaction ID or attribute values are caught by FINGERPRINT, header flips by
        // the structural checks; a flip that turns FINGERPRINT itself into an unknown optional attribute
        // leaves a message that no longer claims integrity. Never a wrong message that claims it.
        let decoded: StunMessage | undefined;
        try {
          decoded = decodeStun(flipped);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('NAT_DECODE');
        }
        if (decoded) expect(decoded.hasFingerprint).toBeFalsy();
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('reports unknown comprehension-required attributes', () => {
    const bytes = encodeStun(
      { method: 1, class: 'request', transactionId: new Uint8Array(12) },
      { fingerprint: false },
    );
    const extended = new Uint8Array(bytes.length + 8);
    extended.set(bytes);
    extended.set([0x7f, 0x01, 0x00, 0x04, 1, 2, 3, 4], bytes.length);
    new DataView(extended.buffer).setUint16(2, 8);
    expect(decodeStun(extended).unknownRequired).toEqual([0x7f01]);
  });
});
