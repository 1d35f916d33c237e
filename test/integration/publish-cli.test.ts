import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createPublicKey, verify } from 'node:crypto';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import bencode from 'bencode';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadPrivateKey, type ObjectStore, openStore, signEnvelope } from '../../release/index.ts';
import { pseudoRandomBytes } from '../publisher/helpers.ts';
import { independentCanonical } from '../release/helpers.ts';
import { S3RVER_ENV, type S3rverProcess, startS3rver } from '../release/s3rver.ts';

// Runs the real `swarmlane` bin (as a user would after `npm ci`) against file:// and a real s3rver.
// Each CLI process costs ~2 s of CPU to start; on a loaded 2-core machine that adds up, so the
// budget per test is generous (the file starts ~35 CLI processes in all).
vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });
const BIN = process.env.SWARMLANE_TEST_CLI ?? join(import.meta.dirname, '..', '..', 'bin', 'swarmlane.mjs');
const work = mkdtempSync(join(tmpdir(), 'swarmlane-cli-'));
let s3: S3rverProcess;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(
  args: string[],
  extraEnv: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: work,
    env: { ...process.env, ...S3RVER_ENV, ...extraEnv, AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}
const cli = (...args: string[]): Promise<Run> => start(args).done;

/** A refusal: exit 1 and exactly one line on stderr naming the code. */
function expectRefused(run: Run, code: string): void {
  expect(run.code, run.stderr).toBe(1);
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^swarmlane: .+ \\[${code}\\]$`));
}

function file(name: string, bytes: Uint8Array): string {
  const path = join(work, name);
  writeFileSync(path, bytes);
  return path;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  s3 = await startS3rver(['rel']);
  const [ed, other, x] = await Promise.all([
    cli('keys', 'generate', '--out', join(work, 'release')),
    cli('keys', 'generate', '--out', join(work, 'other')),
    cli('keys', 'generate', '--out', join(work, 'edge'), '--type', 'x25519'),
  ]);
  for (const r of [ed, other, x]) expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('swarmlane keys generate', () => {
  it('writes PKCS#8 (0600) and SPKI PEM files that openssl reads', async () => {
    for (const name of ['release', 'edge']) {
      expect(statSync(join(work, `${name}.key`)).mode & 0o777).toBe(0o600);
      const priv = spawn('openssl', ['pkey', '-in', join(work, `${name}.key`), '-noout']);
      const pub = spawn('openssl', ['pkey', '-pubin', '-in', join(work, `${name}.pub`), '-noout']);
      const codes = await Promise.all([priv, pub].map((p) => new Promise((r) => p.on('close', r))));
      expect(codes).toEqual([0, 0]);
    }
    expect(readFileSync(join(work, 'edge.key'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('refuses to overwrite an existing key', async () => {
    expectRefused(await cli('keys', 'generate', '--out', join(work, 'release')), 'KEY_EXISTS');
  });
});

const stores: Array<[string, () => { url: string; args: string[]; store: ObjectStore }]> = [
  [
    'file://',
    () => {
      const url = pathToFileURL(join(work, 'filestore')).href;
      return { url, args: ['--store', url], store: openStore(url) };
    },
  ],
  [
    's3:// (s3rver)',
    () => {
      const url = 's3://rel/fleet';
      return {
        url,
        args: ['--store', url, '--s3-endpoint', s3.endpoint],
        store: openStore(url, { s3Endpoint: s3.endpoint, env: S3RVER_ENV }),
      };
    },
  ],
];

describe.each(stores)('swarmlane publish / verify to %s', (_name, target) => {
  const bytes = pseudoRandomBytes(5 * 65536 + 1234, 11);
  let t: ReturnType<(typeof stores)[0][1]>;
  let fwPath: string;

  beforeAll(() => {
    t = target();
    fwPath = file(`fw-${_name.slice(0, 2)}.bin`, bytes);
  });

  it('publishes the documented layout and prints the documented JSON', async () => {
    const run = await cli(
      'publish',
      fwPath,
      '--product',
      'cam',
      '--version',
      '1.2.0',
      '--key',
      join(work, 'release.key'),
      ...t.args,
      '--piece-size',
      '65536',
      '--tracker',
      'http://tracker.lan:7000',
      '--webseed',
      'http://cdn.lan/fw',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(Object.keys(out).sort()).toEqual(
      [
        'product',
        'version',
        'channel',
        'size',
        'sha256',
        'pieceLength',
        'pieceCount',
        'infoHash',
        'object',
        'manifest',
        'torrent',
        'channelPointer',
        'sequence',
      ].sort(),
    );
    const name = fwPath.split('/').pop();
    expect(out).toMatchObject({
      product: 'cam',
      version: '1.2.0',
      channel: 'stable',
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      pieceLength: 65536,
      pieceCount: 6,
      object: `releases/cam/1.2.0/${name}`,
      manifest: 'releases/cam/1.2.0/manifest.json',
      torrent: 'releases/cam/1.2.0/release.torrent',
      channelPointer: 'channels/cam/stable.json',
      sequence: 1,
    });
    expect(await t.store.list('')).toEqual([
      'channels/cam/stable.json',
      `releases/cam/1.2.0/${name}`,
      'releases/cam/1.2.0/manifest.json',
      'releases/cam/1.2.0/release.torrent',
    ]);
    expect(Buffer.from(await t.store.get(out.object)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('an independent verifier accepts the manifest and channel pointer', async () => {
    const pub = createPublicKey(readFileSync(join(work, 'release.pub')));
    const raw = Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url');
    const keyid = createHash('sha256').update(raw).digest('hex');
    for (const key of ['channels/cam/stable.json', 'releases/cam/1.2.0/manifest.json']) {
      const doc = JSON.parse(Buffer.from(await t.store.get(key)).toString());
      expect(doc.signatures).toHaveLength(1);
      expect(doc.signatures[0].keyid).toBe(keyid);
      const message = Buffer.from(independentCanonical(doc.signed));
      expect(verify(null, message, pub, Buffer.from(doc.signatures[0].sig, 'base64')), key).toBe(true);
    }
    const channel = JSON.parse(Buffer.from(await t.store.get('channels/cam/stable.json')).toString());
    const manifestBytes = await t.store.get('releases/cam/1.2.0/manifest.json');
    expect(channel.signed.manifestSha256).toBe(createHash('sha256').update(manifestBytes).digest('hex'));
  });

  it('the torrent decodes with bencode to the right infohash, pieces, tracker and web seed', async () => {
    const manifest = JSON.parse(
      Buffer.from(await t.store.get('releases/cam/1.2.0/manifest.json')).toString(),
    ).signed;
    const meta = bencode.decode(await t.store.get('releases/cam/1.2.0/release.torrent'));
    expect(createHash('sha1').update(bencode.encode(meta.info)).digest('hex')).toBe(manifest.infoHash);
    expect(meta.info.length).toBe(bytes.length);
    expect(meta.info['piece length']).toBe(65536);
    for (let i = 0; i < 6; i++) {
      const piece = bytes.subarray(i * 65536, (i + 1) * 65536);
      const expected = createHash('sha1').update(piece).digest();
      expect(Buffer.from(meta.info.pieces.subarray(i * 20, i * 20 + 20)).equals(expected), `piece ${i}`).toBe(
        true,
      );
    }
    expect(Buffer.from(meta.announce).toString()).toBe('http://tracker.lan:7000/announce');
    expect(meta['url-list'].map((u: Uint8Array) => Buffer.from(u).toString())).toEqual([
      `http://cdn.lan/fw/${manifest.object}`,
    ]);
  });

  it('verify exits 0 for the stored blob and for a local copy', async () => {
    const [stored, local] = await Promise.all([
      cli('verify', ...t.args, '--product', 'cam', '--trusted-key', join(work, 'release.pub'), '--json'),
      cli(
        'verify',
        ...t.args,
        '--product',
        'cam',
        '--channel',
        'stable',
        // The old name of --trusted-key keeps working.
        '--pubkey',
        join(work, 'release.pub'),
        '--file',
        fwPath,
      ),
    ]);
    expect(stored.code, stored.stderr).toBe(0);
    expect(JSON.parse(stored.stdout)).toMatchObject({
      ok: true,
      version: '1.2.0',
      sequence: 1,
      content: 'store',
    });
    expect(local.code, local.stderr).toBe(0);
    expect(local.stdout).toMatch(/^ok: cam 1\.2\.0/);
  });

  it('re-publishing the identical bytes and version is idempotent', async () => {
    const before = await t.store.get('channels/cam/stable.json');
    const run = await cli(
      'publish',
      fwPath,
      '--product',
      'cam',
      '--version',
      '1.2.0',
      '--key',
      join(work, 'release.key'),
      ...t.args,
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).sequence).toBe(1);
    expect(Buffer.from(await t.store.get('channels/cam/stable.json')).equals(Buffer.from(before))).toBe(true);
  });

  it('refuses every bad input with one line and exit 1, leaving the channel untouched', {
    timeout: 240_000,
  }, async () => {
    const before = await t.store.get('channels/cam/stable.json');
    mkdirSync(join(work, `dir-${_name.slice(0, 2)}.bin`), { recursive: true });
    writeFileSync(join(work, 'garbage.key'), 'not a key');
    const other = pseudoRandomBytes(1000, 5);
    const base = (f: string, version: string, ...more: string[]) => [
      'publish',
      f,
      '--product',
      'cam',
      '--version',
      version,
      '--key',
      join(work, 'release.key'),
      ...t.args,
      ...more,
    ];
    const closed = await freePort();
    // Store-dependent refusals run against both stores; the rest only once (against s3rver) to keep
    // the number of CLI processes, and so the suite's time, down.
    const cases: Array<[string, string[], string]> = [
      ['rollback', base(file('n2.bin', other), '1.1.9'), 'ROLLBACK'],
      [
        'same version, different bytes',
        base(file(fwPath.split('/').pop()!.replace('fw', 'fx'), other), '1.2.0'),
        'VERSION_EXISTS',
      ],
      [
        'wrong key',
        [...base(file('n4.bin', other), '2.0.0'), '--key', join(work, 'other.key')],
        'KEY_MISMATCH',
      ],
    ];
    if (t.url.startsWith('s3://')) {
      cases.push(
        ['missing file', base(join(work, 'missing.bin'), '2.0.0'), 'FILE_NOT_FOUND'],
        ['empty file', base(file('empty.bin', new Uint8Array(0)), '2.0.0'), 'FILE_EMPTY'],
        [
          'unreadable file (a directory)',
          base(join(work, `dir-${_name.slice(0, 2)}.bin`), '2.0.0'),
          'NOT_A_FILE',
        ],
        ['version not semver', base(file('n1.bin', other), '2.0'), 'VERSION_INVALID'],
        ['piece size', base(file('n3.bin', other), '2.0.0', '--piece-size', '100000'), 'PIECE_SIZE_INVALID'],
        [
          'transport key as signing key',
          [...base(file('n5.bin', other), '2.0.0'), '--key', join(work, 'edge.key')],
          'KEY_INVALID',
        ],
        [
          'unreadable key',
          [...base(file('n6.bin', other), '2.0.0'), '--key', join(work, 'garbage.key')],
          'KEY_INVALID',
        ],
        [
          'missing key',
          [...base(file('n7.bin', other), '2.0.0'), '--key', join(work, 'none.key')],
          'KEY_UNREADABLE',
        ],
        [
          'unreachable store',
          [...base(file('n8.bin', other), '2.0.0'), '--s3-endpoint', `http://127.0.0.1:${closed}`],
          'STORE_UNREACHABLE',
        ],
      );
    } else {
      cases.push([
        'unsupported store URL',
        [...base(file('n8.bin', other), '2.0.0'), '--store', 'ftp://x/y'],
        'INVALID_STORE_URL',
      ]);
    }
    const runs: Run[] = [];
    for (let i = 0; i < cases.length; i += 4)
      runs.push(...(await Promise.all(cases.slice(i, i + 4).map(([, args]) => cli(...args)))));
    cases.forEach(([name, , code], i) => {
      expect(runs[i]!.stderr.trim(), name).toMatch(new RegExp(`\\[${code}\\]$`));
      expectRefused(runs[i]!, code);
    });
    if (t.url.startsWith('s3://')) {
      const unauthorized = await start(base(file('n9.bin', other), '2.0.0'), { AWS_ACCESS_KEY_ID: 'NOBODY' })
        .done;
      expectRefused(unauthorized, 'STORE_UNAUTHORIZED');
    }
    expect(Buffer.from(await t.store.get('channels/cam/stable.json')).equals(Buffer.from(before))).toBe(true);
    expect(await t.store.head('releases/cam/2.0.0/manifest.json')).toBeNull();
  });
});

describe('interrupted publish', () => {
  it('SIGINT during the upload stops it, exits 1 and leaves the channel and store as they were', async () => {
    const storeDir = join(work, 'interrupt-store');
    const url = pathToFileURL(storeDir).href;
    const store = openStore(url);
    const first = await cli(
      'publish',
      file('small.bin', pseudoRandomBytes(1000)),
      '--product',
      'cam',
      '--version',
      '1.0.0',
      '--key',
      join(work, 'release.key'),
      '--store',
      url,
    );
    expect(first.code, first.stderr).toBe(0);
    const before = await store.get('channels/cam/stable.json');
    const big = join(work, 'big.bin');
    writeFileSync(big, '');
    truncateSync(big, 1536 * 1024 * 1024); // sparse: costs no disk to create
    const run = start([
      'publish',
      big,
      '--product',
      'cam',
      '--version',
      '2.0.0',
      '--key',
      join(work, 'release.key'),
      '--store',
      url,
    ]);
    const tmp = join(storeDir, '.swarmlane-tmp');
    // Wait (polling the store, not the clock) until the blob upload has begun.
    for (;;) {
      const partial = readdirSync(tmp).some((f) => statSync(join(tmp, f)).size > 0);
      if (partial || run.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    run.child.kill('SIGINT');
    const result = await run.done;
    expectRefused(result, 'UPLOAD_INTERRUPTED');
    expect(Buffer.from(await store.get('channels/cam/stable.json')).equals(Buffer.from(before))).toBe(true);
    expect(await store.list('releases/cam/2.0.0/')).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
    rmSync(big);
  });
});

describe('verify refuses a tampered or stale release', () => {
  const pub = () => join(work, 'release.pub');
  function copyOfFileStore(name: string): { url: string; dir: string } {
    const dir = join(work, name);
    cpSync(join(work, 'filestore'), dir, { recursive: true });
    return { url: pathToFileURL(dir).href, dir };
  }

  it('tampered manifest → HASH_MISMATCH, tampered channel → SIGNATURE_INVALID, expired channel → EXPIRED', async () => {
    const manifestCase = copyOfFileStore('tampered-manifest');
    const manifestPath = join(manifestCase.dir, 'releases/cam/1.2.0/manifest.json');
    writeFileSync(manifestPath, readFileSync(manifestPath, 'utf8').replace('"size": ', '"size": 1'));

    const channelCase = copyOfFileStore('tampered-channel');
    const channelPath = join(channelCase.dir, 'channels/cam/stable.json');
    writeFileSync(channelPath, readFileSync(channelPath, 'utf8').replace('"sequence": 1', '"sequence": 2'));

    const expiredCase = copyOfFileStore('expired-channel');
    const expiredPath = join(expiredCase.dir, 'channels/cam/stable.json');
    const signed = {
      ...JSON.parse(readFileSync(expiredPath, 'utf8')).signed,
      expires: '2020-01-01T00:00:00.000Z',
    };
    writeFileSync(
      expiredPath,
      JSON.stringify(signEnvelope(signed, [loadPrivateKey(join(work, 'release.key'))])),
    );

    const [m, c, e] = await Promise.all(
      [manifestCase, channelCase, expiredCase].map((s) =>
        cli('verify', '--store', s.url, '--product', 'cam', '--trusted-key', pub(), '--json'),
      ),
    );
    expectRefused(m!, 'HASH_MISMATCH');
    expectRefused(c!, 'SIGNATURE_INVALID');
    expectRefused(e!, 'EXPIRED');
    expect(JSON.parse(e!.stdout)).toMatchObject({ ok: false, code: 'EXPIRED' });
  });

  it('a blob with a changed piece → PIECE_HASH_MISMATCH; a key that is not trusted → THRESHOLD_NOT_MET', async () => {
    const blobCase = copyOfFileStore('tampered-blob');
    const name = readdirSync(join(blobCase.dir, 'releases/cam/1.2.0')).find((f) => f.endsWith('.bin'))!;
    const blobPath = join(blobCase.dir, 'releases/cam/1.2.0', name);
    const blob = readFileSync(blobPath);
    blob[2 * 65536 + 17]! ^= 1;
    writeFileSync(blobPath, blob);
    const [b, k] = await Promise.all([
      cli('verify', '--store', blobCase.url, '--product', 'cam', '--trusted-key', pub()),
      cli(
        'verify',
        '--store',
        pathToFileURL(join(work, 'filestore')).href,
        '--product',
        'cam',
        '--trusted-key',
        join(work, 'other.pub'),
      ),
    ]);
    expectRefused(b!, 'PIECE_HASH_MISMATCH');
    expect(b!.stderr).toMatch(/piece 2/);
    expectRefused(k!, 'THRESHOLD_NOT_MET');
  });

  it('verify without a trusted key, or with a threshold above the keys given, is a usage error', async () => {
    const store = pathToFileURL(join(work, 'filestore')).href;
    const [none, tooMany] = await Promise.all([
      cli('verify', '--store', store, '--product', 'cam'),
      cli('verify', '--store', store, '--product', 'cam', '--trusted-key', pub(), '--threshold', '2'),
    ]);
    expectRefused(none!, 'CONFIG_INVALID');
    expect(none!.stderr).toMatch(/--trusted-key/);
    expectRefused(tooMany!, 'CONFIG_INVALID');
    expect(tooMany!.stderr).toMatch(/--threshold/);
  });
});
