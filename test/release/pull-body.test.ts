import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PullBody } from '../../release/index.ts';
import { choosePartSize, DEFAULT_PART_SIZE, MAX_PARTS } from '../../release/store/s3-multipart.ts';
import { pseudoRandomBytes } from '../publisher/helpers.ts';

function pullFrom(bytes: Uint8Array): PullBody {
  let position = 0;
  return new PullBody(async (into) => {
    const n = Math.min(into.length, bytes.length - position);
    into.set(bytes.subarray(position, position + n));
    position += n;
    return n;
  });
}

describe('PullBody', () => {
  it('reads as an ordinary stream too (stores that do not pull get every byte)', async () => {
    const bytes = pseudoRandomBytes(2 * 1024 * 1024 + 17, 9);
    const chunks: Buffer[] = [];
    for await (const chunk of pullFrom(bytes)) chunks.push(chunk as Buffer);
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
  });

  it('turns a failing read into a stream error', async () => {
    const body = new PullBody(async () => {
      throw new Error('EIO');
    });
    await expect(Readable.from(body).toArray()).rejects.toThrow('EIO');
  });
});

describe('S3 part size', () => {
  it('is 5 MiB (S3 minimum) until 10,000 of them no longer hold the object', () => {
    expect(DEFAULT_PART_SIZE).toBe(5 * 1024 * 1024);
    expect(choosePartSize(undefined)).toBe(DEFAULT_PART_SIZE);
    expect(choosePartSize(2 * 1024 ** 3)).toBe(DEFAULT_PART_SIZE);
    expect(choosePartSize(DEFAULT_PART_SIZE * MAX_PARTS)).toBe(DEFAULT_PART_SIZE);
    const huge = 100 * 1024 ** 3;
    const part = choosePartSize(huge);
    expect(part % (1024 * 1024)).toBe(0);
    expect(Math.ceil(huge / part)).toBeLessThanOrEqual(MAX_PARTS);
    expect(Math.ceil(huge / (part - 1024 * 1024))).toBeGreaterThan(MAX_PARTS);
  });
});
