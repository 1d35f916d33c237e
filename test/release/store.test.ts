import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ObjectStore, openStore, PullBody, StoreError } from '../../release/index.ts';
import { pseudoRandomBytes } from '../publisher/helpers.ts';
import { S3RVER_ENV, type S3rverProcess, startS3rver } from './s3rver.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    return (error as StoreError).code;
  }
  throw new Error('expected a StoreError');
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

/** One compliance suite, run against every ObjectStore implementation. */
function storeCompliance(name: string, open: () => ObjectStore): void {
  describe(`${name} store`, () => {
    it('puts, gets, ranges and heads objects', async () => {
      const store = open();
      await store.put('releases/p/1.0.0/a.txt', enc('hello world'));
      expect(dec(await store.get('releases/p/1.0.0/a.txt'))).toBe('hello world');
      expect(dec(await store.get('releases/p/1.0.0/a.txt', { start: 6, end: 10 }))).toBe('world');
      expect(await readAll(await store.getStream('releases/p/1.0.0/a.txt', { start: 0, end: 4 }))).toBe(
        'hello',
      );
      expect((await store.head('releases/p/1.0.0/a.txt'))?.size).toBe(11);
      expect(await store.head('releases/p/1.0.0/missing')).toBeNull();
    });

    it('streams a multi-chunk body in', async () => {
      const store = open();
      const chunk = Buffer.alloc(3 * 1024 * 1024, 7);
      await store.put('big.bin', Readable.from([chunk, chunk, chunk, Buffer.from('end')]));
      expect((await store.head('big.bin'))?.size).toBe(9 * 1024 * 1024 + 3);
      expect(dec(await store.get('big.bin', { start: 9 * 1024 * 1024, end: 9 * 1024 * 1024 + 2 }))).toBe(
        'end',
      );
    });

    it('stores every byte of a pulled body that spans several parts, in order', async () => {
      const store = open();
      // Three 5 MiB parts and a short fourth; pulls of odd sizes so no read lines up with a part.
      const bytes = pseudoRandomBytes(15 * 1024 * 1024 + 12_345, 3);
      let position = 0;
      const pulls: number[] = [];
      const body = new PullBody(async (into) => {
        const n = Math.min(into.length, 700_001, bytes.length - position);
        into.set(bytes.subarray(position, position + n));
        position += n;
        pulls.push(n);
        return n;
      });
      await store.put('pulled.bin', body, { size: bytes.length });
      expect(Buffer.from(await store.get('pulled.bin')).equals(bytes)).toBe(true);
      expect(pulls.reduce((a, b) => a + b, 0)).toBe(bytes.length);
    });

    it('stores a stream of uneven chunks byte for byte', async () => {
      const store = open();
      const bytes = pseudoRandomBytes(6 * 1024 * 1024 + 5, 4);
      const chunks: Buffer[] = [];
      for (let at = 0, size = 1; at < bytes.length; at += size, size = (size * 7 + 13) % 900_000)
        chunks.push(Buffer.from(bytes.subarray(at, at + size)));
      await store.put('uneven.bin', Readable.from(chunks));
      expect(Buffer.from(await store.get('uneven.bin')).equals(bytes)).toBe(true);
    });

    it('a body that fails after the first parts leaves the key as it was', async () => {
      const store = open();
      await store.put('fails/me', enc('old'));
      async function* body(): AsyncGenerator<Buffer> {
        yield Buffer.from(pseudoRandomBytes(11 * 1024 * 1024, 5));
        throw new Error('disk read failed');
      }
      await expect(store.put('fails/me', Readable.from(body()))).rejects.toThrow('disk read failed');
      expect(dec(await store.get('fails/me'))).toBe('old');
    });

    it('overwrites by default and refuses with ifAbsent', async () => {
      const store = open();
      await store.put('channels/p/stable.json', enc('one'));
      await store.put('channels/p/stable.json', enc('two'));
      expect(dec(await store.get('channels/p/stable.json'))).toBe('two');
      expect(await failure(store.put('channels/p/stable.json', enc('three'), { ifAbsent: true }))).toBe(
        'ALREADY_EXISTS',
      );
      expect(dec(await store.get('channels/p/stable.json'))).toBe('two');
      await store.put('channels/p/beta.json', enc('new'), { ifAbsent: true });
      expect(dec(await store.get('channels/p/beta.json'))).toBe('new');
    });

    it('lists keys under a prefix, sorted', async () => {
      const store = open();
      await store.put('list/x/b', enc('1'));
      await store.put('list/x/a', enc('1'));
      await store.put('list/y/c', enc('1'));
      expect(await store.list('list/x/')).toEqual(['list/x/a', 'list/x/b']);
      expect(await store.list('list/')).toEqual(['list/x/a', 'list/x/b', 'list/y/c']);
      expect(await store.list('nothing/')).toEqual([]);
    });

    it('missing keys are NOT_FOUND; unsafe keys are refused', async () => {
      const store = open();
      expect(await failure(store.get('no/such/key'))).toBe('NOT_FOUND');
      expect(await failure(store.getStream('no/such/key'))).toBe('NOT_FOUND');
      expect(await failure(store.get('../escape'))).toBe('INVALID_KEY');
      expect(await failure(store.put('a//b', enc('x')))).toBe('INVALID_KEY');
    });

    it('an aborted streamed put leaves the key as it was', async () => {
      const store = open();
      await store.put('abort/me', enc('old'));
      const controller = new AbortController();
      async function* body(): AsyncGenerator<Buffer> {
        yield Buffer.alloc(6 * 1024 * 1024, 1);
        controller.abort(new Error('stop'));
        yield Buffer.alloc(6 * 1024 * 1024, 2);
        throw new Error('source failed');
      }
      await expect(
        store.put('abort/me', Readable.from(body()), { signal: controller.signal }),
      ).rejects.toThrow();
      expect(dec(await store.get('abort/me'))).toBe('old');
    });
  });
}

const fileDir = mkdtempSync(join(tmpdir(), 'swarmlane-filestore-'));
afterAll(() => rmSync(fileDir, { recursive: true, force: true }));
storeCompliance('file', () => openStore(pathToFileURL(fileDir).href));

describe('file store specifics', () => {
  it('leaves no temp files behind', () => {
    expect(readdirSync(join(fileDir, '.swarmlane-tmp'))).toEqual([]);
  });
});

let s3: S3rverProcess;
beforeAll(async () => {
  s3 = await startS3rver(['releases']);
});
afterAll(async () => {
  await s3?.stop();
});
storeCompliance('s3 (s3rver)', () =>
  openStore('s3://releases/some/prefix', { s3Endpoint: s3.endpoint, env: S3RVER_ENV }),
);

describe('s3 store errors', () => {
  it('reports refused credentials as STORE_UNAUTHORIZED', async () => {
    const store = openStore('s3://releases/p', {
      s3Endpoint: s3.endpoint,
      // s3rver checks the access key id (it accepts any secret), so an unknown id is what it refuses.
      env: { ...S3RVER_ENV, AWS_ACCESS_KEY_ID: 'NOBODY' },
    });
    expect(await failure(store.get('x'))).toBe('STORE_UNAUTHORIZED');
    expect(await failure(store.list('x'))).toBe('STORE_UNAUTHORIZED');
    expect(await failure(store.put('x', enc('x')))).toBe('STORE_UNAUTHORIZED');
  });

  it('reports a closed port as STORE_UNREACHABLE', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const store = openStore('s3://releases/p', { s3Endpoint: `http://127.0.0.1:${port}`, env: S3RVER_ENV });
    expect(await failure(store.get('x'))).toBe('STORE_UNREACHABLE');
  });

  it('takes the endpoint from AWS_ENDPOINT_URL_S3', async () => {
    const store = openStore('s3://releases/env', {
      env: { ...S3RVER_ENV, AWS_ENDPOINT_URL_S3: s3.endpoint },
    });
    await store.put('k', enc('v'));
    expect(dec(await store.get('k'))).toBe('v');
  });

  it('a missing bucket is a store error, not an empty store', async () => {
    const store = openStore('s3://no-such-bucket/p', { s3Endpoint: s3.endpoint, env: S3RVER_ENV });
    expect(await failure(store.put('k', enc('v')))).toBe('STORE_ERROR');
  });
});
