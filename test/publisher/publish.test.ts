import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PublishError, type PublishRequest, publishRelease } from '../../publisher/index.ts';
import {
  createTrustedKeys,
  hashPieces,
  parseTorrent,
  readCurrentRelease,
  StoreError,
  storeKeys,
} from '../../release/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { testKey } from '../release/helpers.ts';
import { faultyStore, fixedClock, pseudoRandomBytes, workspace } from './helpers.ts';

const key = testKey();
const trusted = createTrustedKeys([key.publicKey], 1);
const logger = createSilentLogger();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const ws = workspace();
  dirs.push(ws.dir);
  const clock = fixedClock();
  const components = { store: ws.store, signingKeys: [key.privateKey], clock, logger };
  const publish = (request: Partial<PublishRequest> & { file: string }, overrides = {}) =>
    publishRelease({ product: 'cam', version: '1.0.0', ...request }, { ...components, ...overrides });
  return { ws, clock, components, publish };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect((error as Error).message).not.toContain('\n');
    return (error as { code: string }).code;
  }
  throw new Error('expected the publish to be refused');
}

describe('publishRelease', () => {
  it('writes blob, torrent, manifest and channel pointer in the documented layout', async () => {
    const { ws, clock, publish } = setup();
    const bytes = pseudoRandomBytes(3 * 16384 + 99);
    const result = await publish({
      file: ws.file('fw.bin', bytes),
      pieceSize: 16384,
      trackerUrl: 'http://tracker.lan:8000/',
      webseedUrl: 'http://cdn.lan',
      expiresDays: 10,
    });
    const digests = hashPieces(bytes, 16384);
    expect(result).toEqual({
      product: 'cam',
      version: '1.0.0',
      channel: 'stable',
      size: bytes.length,
      sha256: digests.sha256,
      pieceLength: 16384,
      pieceCount: 4,
      infoHash: expect.stringMatching(/^[0-9a-f]{40}$/),
      object: 'releases/cam/1.0.0/fw.bin',
      manifest: 'releases/cam/1.0.0/manifest.json',
      torrent: 'releases/cam/1.0.0/release.torrent',
      channelPointer: 'channels/cam/stable.json',
      sequence: 1,
      changed: true,
    });
    expect(await ws.store.list('')).toEqual([
      'channels/cam/stable.json',
      'releases/cam/1.0.0/fw.bin',
      'releases/cam/1.0.0/manifest.json',
      'releases/cam/1.0.0/release.torrent',
    ]);
    expect(await ws.store.get(result.object)).toEqual(bytes);
    const current = await readCurrentRelease(ws.store, 'cam', 'stable', trusted, { now: clock.now() });
    expect(current.manifest.pieces).toEqual(digests.pieces);
    expect(current.manifest.created).toBe('2026-03-01T12:00:00.000Z');
    expect(current.manifest.expires).toBe('2026-03-11T12:00:00.000Z');
    expect(current.channel.expires).toBe('2026-03-11T12:00:00.000Z');
    const torrent = parseTorrent(await ws.store.get(result.torrent));
    expect(torrent.infoHash).toBe(result.infoHash);
    expect(torrent.announce).toBe('http://tracker.lan:8000/announce');
    expect(torrent.urlList).toEqual(['http://cdn.lan/releases/cam/1.0.0/fw.bin']);
    expect(Buffer.concat(torrent.pieces)).toEqual(Buffer.from(digests.sha1Pieces));
  });

  it('each new version bumps the channel sequence by one; channels are independent', async () => {
    const { ws, publish } = setup();
    expect((await publish({ file: ws.file('a.bin', pseudoRandomBytes(1000, 1)) })).sequence).toBe(1);
    expect(
      (await publish({ file: ws.file('b.bin', pseudoRandomBytes(1000, 2)), version: '1.1.0' })).sequence,
    ).toBe(2);
    expect(
      (
        await publish({
          file: ws.file('c.bin', pseudoRandomBytes(1000, 3)),
          version: '2.0.0-rc.1',
          channel: 'beta',
        })
      ).sequence,
    ).toBe(1);
  });

  it('re-publishing identical bytes and version changes nothing', async () => {
    const { ws, publish } = setup();
    const file = ws.file('fw.bin', pseudoRandomBytes(50_000));
    const first = await publish({ file });
    const before = await ws.store.get('channels/cam/stable.json');
    const again = await publish({ file });
    expect(again).toEqual({ ...first, changed: false });
    expect(await ws.store.get('channels/cam/stable.json')).toEqual(before);
  });

  it('finishes an earlier run that stopped before the channel pointer', async () => {
    const { ws, components, publish } = setup();
    const file = ws.file('fw.bin', pseudoRandomBytes(50_000));
    const failing = faultyStore(ws.store, {
      put: (k) =>
        k.startsWith('channels/') ? new StoreError('STORE_UNREACHABLE', 'connection lost') : undefined,
    });
    expect(await refusal(publish({ file }, { store: failing }))).toBe('STORE_UNREACHABLE');
    expect(await ws.store.head('channels/cam/stable.json')).toBeNull();
    const resumed = await publishRelease({ file, product: 'cam', version: '1.0.0' }, components);
    expect(resumed).toMatchObject({ sequence: 1, changed: true });
  });

  describe('refuses bad input with a one-line error and leaves the channel untouched', () => {
    const cases: Array<[string, string, (s: ReturnType<typeof setup>) => Promise<unknown>]> = [
      [
        'missing file',
        'FILE_NOT_FOUND',
        (s) => s.publish({ file: join(s.ws.dir, 'nope.bin'), version: '2.0.0' }),
      ],
      [
        'empty file',
        'FILE_EMPTY',
        (s) => s.publish({ file: s.ws.file('empty.bin', new Uint8Array(0)), version: '2.0.0' }),
      ],
      [
        'an unreadable path (ENOTDIR; root ignores file modes)',
        'FILE_UNREADABLE',
        (s) =>
          s.publish({ file: join(s.ws.file('plain', pseudoRandomBytes(10)), 'fw.bin'), version: '2.0.0' }),
      ],
      [
        'a directory',
        'NOT_A_FILE',
        (s) => {
          mkdirSync(join(s.ws.dir, 'dir.bin'));
          return s.publish({ file: join(s.ws.dir, 'dir.bin'), version: '2.0.0' });
        },
      ],
      [
        'version not semver',
        'VERSION_INVALID',
        (s) => s.publish({ file: s.ws.file('n.bin', pseudoRandomBytes(10)), version: 'v2' }),
      ],
      [
        'lower version',
        'ROLLBACK',
        (s) => s.publish({ file: s.ws.file('n.bin', pseudoRandomBytes(10)), version: '0.9.9' }),
      ],
      [
        'same version, different bytes',
        'VERSION_EXISTS',
        (s) => s.publish({ file: s.ws.file('fw.bin', pseudoRandomBytes(1000, 77)), version: '1.0.0' }),
      ],
      [
        'piece size not a power of two',
        'PIECE_SIZE_INVALID',
        (s) =>
          s.publish({
            file: s.ws.file('n.bin', pseudoRandomBytes(10)),
            version: '2.0.0',
            pieceSize: 100_000,
          }),
      ],
      [
        'a key that did not sign the channel',
        'KEY_MISMATCH',
        (s) =>
          s.publish(
            { file: s.ws.file('n.bin', pseudoRandomBytes(10)), version: '2.0.0' },
            { signingKeys: [testKey().privateKey] },
          ),
      ],
      [
        'an x25519 key',
        'KEY_MISMATCH',
        (s) =>
          s.publish(
            { file: s.ws.file('n.bin', pseudoRandomBytes(10)), version: '2.0.0' },
            { signingKeys: [testKey('x25519').privateKey] },
          ),
      ],
      [
        'an unreachable store',
        'STORE_UNREACHABLE',
        (s) =>
          s.publish(
            { file: s.ws.file('n.bin', pseudoRandomBytes(10)), version: '2.0.0' },
            {
              store: faultyStore(s.ws.store, {
                get: () => new StoreError('STORE_UNREACHABLE', 'cannot reach store'),
              }),
            },
          ),
      ],
      [
        'an upload cut off halfway',
        'UPLOAD_INTERRUPTED',
        (s) =>
          s.publish(
            { file: s.ws.file('n.bin', pseudoRandomBytes(3_000_000)), version: '2.0.0' },
            {
              store: faultyStore(s.ws.store, {
                put: (k) => (k.endsWith('n.bin') ? 'consume-then-fail' : undefined),
              }),
            },
          ),
      ],
      [
        'an aborted publish',
        'UPLOAD_INTERRUPTED',
        (s) => {
          const controller = new AbortController();
          controller.abort(new Error('SIGINT'));
          return publishRelease(
            { file: s.ws.file('n.bin', pseudoRandomBytes(3_000_000)), product: 'cam', version: '2.0.0' },
            s.components,
            { signal: controller.signal },
          );
        },
      ],
    ];
    for (const [name, code, run] of cases) {
      it(name, async () => {
        const s = setup();
        await s.publish({ file: s.ws.file('fw.bin', pseudoRandomBytes(1000)) });
        const before = await s.ws.store.get('channels/cam/stable.json');
        expect(await refusal(run(s))).toBe(code);
        expect(await s.ws.store.get('channels/cam/stable.json')).toEqual(before);
        expect(await s.ws.store.head(storeKeys.manifest('cam', '2.0.0'))).toBeNull();
      });
    }
  });

  it('throws PublishError for publisher refusals', async () => {
    const { ws, publish } = setup();
    await expect(publish({ file: join(ws.dir, 'missing') })).rejects.toBeInstanceOf(PublishError);
  });
});
