import { randomBytes, randomInt } from 'node:crypto';
import type { Random } from '../random.ts';

export function createNodeRandom(): Random {
  return {
    bytes: (length) => new Uint8Array(randomBytes(length)),
    int: (maxExclusive) => randomInt(maxExclusive),
    // 48 random bits over 2^48: uniform in [0, 1). (randomInt's range tops out just below 2^48.)
    float: () => randomBytes(6).readUIntBE(0, 6) / 2 ** 48,
  };
}
