import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createFrameReader,
  decodeInitReply,
  decodeInitRequest,
  type EdgeMessage,
  encodeInit,
  encodeMessage,
} from '../../edge/index.ts';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const message: fc.Arbitrary<EdgeMessage> = fc.oneof(
  fc.record({
    type: fc.constant('request' as const),
    id: u32,
    release: fc.string({ maxLength: 60 }),
    piece: u32,
    offset: u32,
    length: u32,
  }),
  fc.record({ type: fc.constant('cancel' as const), id: u32 }),
  fc.record({ type: fc.constant('done' as const), id: u32, length: u32 }),
  fc.record({
    type: fc.constant('error' as const),
    id: u32,
    code: fc.integer({ min: 0, max: 0xffff }),
    message: fc.string({ maxLength: 100 }),
  }),
  fc.record({ type: fc.constant('busy' as const), id: u32, retryAfterMs: u32 }),
);

describe('edge protocol codec', () => {
  it('round-trips any sequence of messages however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
        (messages, cuts) => {
          const bytes = Buffer.concat(messages.map((m) => encodeMessage(m)));
          const out: EdgeMessage[] = [];
          const read = createFrameReader((m) => out.push(m));
          let offset = 0;
          for (let i = 0; offset < bytes.length; i++) {
            const n = cuts[i % cuts.length]!;
            read(new Uint8Array(bytes.subarray(offset, offset + n)));
            offset += n;
          }
          expect(out).toEqual(messages);
        },
      ),
    );
  });

  it('rejects oversized, empty, truncated-body and unknown frames with a ProtocolError', () => {
    const bad = [
      [0, 0, 0x20, 0x00, 1], // 8 KiB frame
      [0, 0, 0, 0], // empty frame
      [0, 0, 0, 5, 0x7f, 0, 0, 0, 1], // unknown type
      [0, 0, 0, 6, 0x02, 0, 0, 0, 1, 9], // CANCEL with a trailing byte
    ];
    for (const frame of bad)
      expect(() => createFrameReader(() => {})(new Uint8Array(frame))).toThrow(/frame|CANCEL/);
  });

  it('init payloads decode leniently: garbage is null, never an exception', () => {
    expect(decodeInitRequest(encodeInit({ v: 1, region: 'eu' }))).toEqual({ v: 1, region: 'eu' });
    expect(decodeInitRequest(new Uint8Array([0xff, 0x00]))).toBeNull();
    expect(decodeInitReply(undefined)).toBeNull();
    expect(decodeInitReply(new TextEncoder().encode('{"v":2}'))).toBeNull();
    const reply = { v: 1 as const, id: 'e1', region: 'eu', load: 0.5, sessions: 3, busy: false, better: [] };
    expect(decodeInitReply(encodeInit(reply))).toEqual(reply);
  });
});
