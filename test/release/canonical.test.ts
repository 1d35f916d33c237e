import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../release/index.ts';
import { independentCanonical } from './helpers.ts';

const text = (value: unknown): string => new TextDecoder().decode(canonicalJson(value));

describe('canonicalJson (RFC 8785)', () => {
  it('sorts keys recursively and drops whitespace', () => {
    expect(text({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('serializes numbers as ECMAScript does (RFC 8785 section 3.2.2.3 examples)', () => {
    expect(text([Number('333333333.33333329'), 1e30, 4.5, 2e-3, 0.000000000000000000000000001])).toBe(
      '[333333333.3333333,1e+30,4.5,0.002,1e-27]',
    );
  });

  it('escapes strings minimally and keeps non-ASCII as UTF-8', () => {
    expect(text('€$\u000f\nA\'B"\\\\"/')).toBe('"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"');
    expect(Array.from(canonicalJson('é'))).toEqual([0x22, 0xc3, 0xa9, 0x22]);
  });

  it('orders keys by UTF-16 code units, not code points', () => {
    // U+FB33 sorts after U+1D306 (a surrogate pair starting 0xD834) in UTF-16 order.
    expect(text({ '\ufb33': 1, '\u{1d306}': 2, a: 3 })).toBe('{"a":3,"\u{1d306}":2,"\ufb33":1}');
  });

  it('is invariant under key insertion order and agrees with an independent serializer', () => {
    const doc = fc.dictionary(
      fc.string({ maxLength: 8 }),
      fc.oneof(
        fc.string({ maxLength: 12 }),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.nat(), { maxLength: 4 }),
      ),
    );
    fc.assert(
      fc.property(doc, (value) => {
        const reversed = Object.fromEntries(Object.entries(value).reverse());
        expect(text(reversed)).toBe(text(value));
        expect(text(value)).toBe(independentCanonical(value));
      }),
      { seed: 42, numRuns: 200 },
    );
  });
});
