import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { publishRelease, verifyRelease } from '../../publisher/index.ts';
import { createTorrent, createTrustedKeys, ReleaseVerifyError, signEnvelope } from '../../release/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { testKey } from '../release/helpers.ts';
import { fixedClock, pseudoRandomBytes, workspace } from './helpers.ts';

const key = testKey();
const trusted = createTrustedKeys([key.publicKey], 1);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function published() {
  const ws = workspace();
  dirs.push(ws.dir);
  const clock = fixedClock();
  const bytes = pseudoRandomBytes(5 * 16384 + 3);
  const file = ws.file('fw.bin', bytes);
  await publishRelease(
    { file, product: 'cam', version: '1.0.0', pieceSize: 16384, expiresDays: 7 },
    { store: ws.store, signingKeys: [key.privateKey], clock, logger: createSilentLogger() },
  );
  const root = fileURLToPath(ws.storeUrl);
  const path = (k: string): string => join(root, ...k.split('/'));
  const verify = (extra: { file?: string } = {}) =>
    verifyRelease({ product: 'cam', ...extra }, { store: ws.store, trusted, clock });
  return { ws, clock, bytes, file, path, verify };
}

async function failed(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ReleaseVerifyError);
    return (error as ReleaseVerifyError).code;
  }
  throw new Error('expected verification to fail');
}

describe('verifyRelease', () => {
  it('accepts an intact release, from the store and from a local file', async () => {
    const r = await published();
    const fromStore = await r.verify();
    expect(fromStore).toMatchObject({
      ok: true,
      version: '1.0.0',
      sequence: 1,
      pieceCount: 6,
      content: 'store',
    });
    expect((await r.verify({ file: r.file })).content).toBe('file');
  });

  it('a flipped byte in the stored blob fails PIECE_HASH_MISMATCH naming the piece', async () => {
    const r = await published();
    const blob = r.path('releases/cam/1.0.0/fw.bin');
    const bytes = readFileSync(blob);
    bytes[3 * 16384 + 5]! ^= 0xff;
    writeFileSync(blob, bytes);
    await expect(r.verify()).rejects.toThrow(/piece 3/);
    expect(await failed(r.verify())).toBe('PIECE_HASH_MISMATCH');
  });

  it('a local file of another length fails SIZE_MISMATCH', async () => {
    const r = await published();
    expect(await failed(r.verify({ file: r.ws.file('short.bin', r.bytes.subarray(1)) }))).toBe(
      'SIZE_MISMATCH',
    );
  });

  it('a tampered manifest fails HASH_MISMATCH (pinned by the channel pointer)', async () => {
    const r = await published();
    const path = r.path('releases/cam/1.0.0/manifest.json');
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    doc.signed.size += 1;
    writeFileSync(path, JSON.stringify(doc));
    expect(await failed(r.verify())).toBe('HASH_MISMATCH');
  });

  it('a tampered channel pointer fails SIGNATURE_INVALID; one re-signed by another key THRESHOLD_NOT_MET', async () => {
    const r = await published();
    const path = r.path('channels/cam/stable.json');
    const original = readFileSync(path, 'utf8');
    const doc = JSON.parse(original);
    doc.signed.sequence = 99;
    writeFileSync(path, JSON.stringify(doc));
    expect(await failed(r.verify())).toBe('SIGNATURE_INVALID');
    writeFileSync(path, JSON.stringify(signEnvelope(JSON.parse(original).signed, [testKey().privateKey])));
    expect(await failed(r.verify())).toBe('THRESHOLD_NOT_MET');
  });

  it('an expired channel pointer fails EXPIRED', async () => {
    const r = await published();
    r.clock.set(r.clock.now() + 8 * 86_400_000);
    expect(await failed(r.verify())).toBe('EXPIRED');
  });

  it('a swapped torrent fails TORRENT_MISMATCH', async () => {
    const r = await published();
    const other = createTorrent({
      name: 'fw.bin',
      length: 1,
      pieceLength: 16384,
      sha1Pieces: new Uint8Array(20),
    });
    writeFileSync(r.path('releases/cam/1.0.0/release.torrent'), other.bytes);
    expect(await failed(r.verify())).toBe('TORRENT_MISMATCH');
  });
});
