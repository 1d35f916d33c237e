import { randomBytes, randomInt } from 'node:crypto';
import type { Random } from '../random.ts';

export function createNodeRandom(): Random {
  return {
    bytes: (length) => new Uint8Array(randomBytes(length)),
    int: (maxExclusive) => randomInt(maxExclusive),
    float: () => randomInt(2 ** 48) / 2 ** 48,
  };
}
