import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSeededRandom, createSilentLogger } from '../../runtime/index.ts';
import { DecodeError } from '../../transport/errors.ts';
import { decodeFrames, type Frame, frameLength, writeFrame } from '../../transport/frames.ts';
import { EndpointCore, resolveOptions } from '../../transport/index.ts';
import { type Header, MAX_DATAGRAM, parsePacket, writeHeader } from '../../transport/packet.ts';
import { Reader, Writer } from '../../transport/varint.ts';

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const varint = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const small = fc.integer({ min: 0, max: 2 ** 40 });

const ackFrame = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 })), {
    minLength: 1,
    maxLength: 20,
  })
  .chain((pairs) => {
    // Build descending, disjoint, non-adjacent ranges from (gap, length) pairs.
    const ranges: Array<{ start: number; end: number }> = [];
    let top = pairs.reduce((sum, [gap, len]) => sum + gap + len + 2, 0) + 10;
    for (const [gap, len] of pairs) {
      const end = top;
      const start = end - len;
      ranges.push({ start, end });
      top = start - gap - 2;
    }
    return fc.constant({ type: 'ack', largest: ranges[0]!.end, delayUs: 123, ranges } as Frame);
  });

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.constant({ type: 'ping' } as Frame),
  ackFrame,
  fc
    .record({ id: small, offset: small, data: bytes(0, 300), fin: fc.boolean() })
    .map((f) => ({ type: 'stream', ...f }) as Frame),
  fc
    .record({ seq: small, object: small, offset: small, data: bytes(0, 300) })
    .map((f) => ({ type: 'block', ...f }) as Frame),
  small.map((max) => ({ type: 'max-data', max }) as Frame),
  fc.record({ id: small, max: small }).map((f) => ({ type: 'max-stream-data', ...f }) as Frame),
  fc.record({ id: small, code: small }).map((f) => ({ type: 'reset-stream', ...f }) as Frame),
  bytes(8, 8).map((data) => ({ type: 'path-challenge', data }) as Frame),
  bytes(8, 8).map((data) => ({ type: 'path-response', data }) as Frame),
  fc
    .record({ code: small, reason: fc.string({ maxLength: 40 }) })
    .map((f) => ({ type: 'close', ...f }) as Frame),
  fc
    .record({ staticKey: bytes(32, 32), payload: bytes(0, 200) })
    .map((f) => ({ type: 'init', ...f }) as Frame),
  fc.option(bytes(0, 200), { nil: undefined }).map((payload) => ({ type: 'init-reply', payload }) as Frame),
);

const cid = bytes(8, 8);
const headerArb: fc.Arbitrary<Header> = fc.oneof(
  fc
    .record({ keyPhase: fc.constantFrom(0 as const, 1 as const), dcid: cid, pn: fc.nat({ max: 0xffffffff }) })
    .map((h) => ({ kind: 'short', ...h }) as Header),
  fc
    .record({
      version: fc.nat({ max: 0xffffffff }),
      dcid: cid,
      scid: cid,
      token: bytes(0, 40),
      ephemeral: bytes(32, 32),
      pn: fc.nat({ max: 0xffffffff }),
    })
    .map((h) => ({ kind: 'initial', ...h }) as Header),
  fc
    .record({
      version: fc.nat({ max: 0xffffffff }),
      dcid: cid,
      scid: cid,
      ephemeral: bytes(32, 32),
      pn: fc.nat({ max: 0xffffffff }),
    })
    .map((h) => ({ kind: 'answer', ...h }) as Header),
);

describe('varint', () => {
  it('round-trips every safe integer and uses the minimal length', () => {
    fc.assert(
      fc.property(varint, (value) => {
        const w = new Writer(new Uint8Array(8));
        w.varint(value);
        const r = new Reader(w.bytes.subarray(0, w.offset));
        expect(r.varint()).toBe(value);
        expect(r.remaining).toBe(0);
        expect(w.offset).toBe(value < 64 ? 1 : value < 16384 ? 2 : value < 2 ** 30 ? 4 : 8);
      }),
    );
  });
});

describe('frames codec', () => {
  it('round-trips any sequence of frames and predicts its length', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), (frames) => {
        const buffer = new Uint8Array(8192);
        const w = new Writer(buffer);
        let predicted = 0;
        for (const f of frames) {
          writeFrame(w, f);
          predicted += frameLength(f);
        }
        expect(w.offset).toBe(predicted);
        const decoded = decodeFrames(buffer.subarray(0, w.offset));
        expect(decoded.map(normalise)).toEqual(frames.map(normalise));
      }),
    );
  });

  it('random bytes either decode or throw DecodeError, nothing else', () => {
    fc.assert(
      fc.property(bytes(0, 200), (input) => {
        try {
          decodeFrames(input);
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('packet headers', () => {
  it('round-trip and leave the payload intact', () => {
    fc.assert(
      fc.property(headerArb, bytes(16, 100), (header, payload) => {
        const w = new Writer(new Uint8Array(MAX_DATAGRAM));
        writeHeader(w, header);
        w.raw(payload);
        const parsed = parsePacket(w.bytes.subarray(0, w.offset));
        expect(normalise(parsed.header)).toEqual(normalise(header));
        expect(Buffer.from(parsed.payload)).toEqual(Buffer.from(payload));
        expect(parsed.headerBytes.length + payload.length).toBe(w.offset);
        expect(w.bytes[0]).toBeGreaterThanOrEqual(0x40);
      }),
    );
  });

  it('random and truncated datagrams throw only DecodeError', () => {
    fc.assert(
      fc.property(bytes(0, 120), (input) => {
        try {
          parsePacket(input);
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('endpoint robustness', () => {
  it('random and mutated datagrams never throw out of handleDatagram', () => {
    const random = createSeededRandom(3);
    const core = new EndpointCore(
      resolveOptions({ staticPrivateKey: random.bytes(32) }),
      random,
      createSilentLogger(),
      {
        accepted: () => {},
        raw: () => {},
      },
    );
    // A genuine INITIAL to mutate.
    const clientRandom = createSeededRandom(4);
    const client = new EndpointCore(
      resolveOptions({ staticPrivateKey: clientRandom.bytes(32) }),
      clientRandom,
      createSilentLogger(),
      { accepted: () => {}, raw: () => {} },
    );
    client.connect(0, { host: '10.0.0.1', port: 1 }, core.staticKey.publicKey, new Uint8Array(10));
    const initial = client.pollTransmit(0)!.bytes;
    const from = { host: '10.0.0.2', port: 2 };
    fc.assert(
      fc.property(
        fc.oneof(
          bytes(0, 1300),
          fc.tuple(fc.nat({ max: initial.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const copy = initial.slice();
            copy[i] = copy[i]! ^ x;
            return copy;
          }),
          fc.nat({ max: initial.length }).map((n) => initial.slice(0, n)),
        ),
        (datagram) => {
          expect(() => core.handleDatagram(1, from, datagram)).not.toThrow();
          expect(() => core.pollTransmit(1)).not.toThrow();
        },
      ),
      { numRuns: 1500 },
    );
    // The untouched INITIAL is still accepted afterwards.
    core.handleDatagram(2, from, initial);
    expect(core.connectionCount).toBe(1);
  });
});

function normalise(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(normalise);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalise(v);
    return out;
  }
  return value;
}
