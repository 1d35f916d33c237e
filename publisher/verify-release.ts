import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  type ObjectStore,
  PieceHasher,
  parseTorrent,
  ReleaseVerifyError,
  readCurrentRelease,
  type TrustedKeys,
  toHex,
} from '../release/index.ts';
import type { Clock } from '../runtime/index.ts';
import { PublishError } from './errors.ts';

export interface VerifyReleaseRequest {
  product: string;
  /** Default `stable`. */
  channel?: string;
  /** Local copy to check piece by piece; without it the stored blob is read. */
  file?: string;
}

export interface VerifyComponents {
  store: ObjectStore;
  trusted: TrustedKeys;
  clock: Clock;
}

/** What `swarmlane verify --json` prints when every check holds. */
export interface VerifyReport {
  ok: true;
  product: string;
  channel: string;
  version: string;
  sequence: number;
  expires: string;
  manifest: string;
  object: string;
  size: number;
  sha256: string;
  pieceLength: number;
  pieceCount: number;
  infoHash: string;
  /** Where the bytes whose pieces were checked came from. */
  content: 'file' | 'store';
  checks: string[];
}

/**
 * Verifies a published release end to end: channel pointer (signature, threshold, expiry), manifest
 * (hash pinned by the pointer, signature, expiry), torrent (infohash and geometry), and every piece of
 * the content (SHA-256 against the manifest, SHA-1 against the torrent, whole-file SHA-256). Throws a
 * ReleaseVerifyError whose code names the first check that failed.
 */
export async function verifyRelease(
  request: VerifyReleaseRequest,
  components: VerifyComponents,
  run: { onProgress?: (bytes: number, total: number) => void } = {},
): Promise<VerifyReport> {
  const channel = request.channel ?? 'stable';
  const { store } = components;
  const current = await readCurrentRelease(store, request.product, channel, components.trusted, {
    now: components.clock.now(),
  });
  const m = current.manifest;
  const checks = [
    'channel signature',
    'channel expiry',
    'manifest hash',
    'manifest signature',
    'manifest expiry',
  ];

  const torrent = parseTorrent(await store.get(m.torrent));
  if (torrent.infoHash !== m.infoHash)
    throw new ReleaseVerifyError(
      'TORRENT_MISMATCH',
      `torrent infohash ${torrent.infoHash} differs from the manifest's`,
    );
  if (
    torrent.length !== m.size ||
    torrent.pieceLength !== m.pieceLength ||
    torrent.pieces.length !== m.pieces.length
  )
    throw new ReleaseVerifyError(
      'TORRENT_MISMATCH',
      'torrent length or piece geometry differs from the manifest',
    );
  checks.push('torrent infohash');

  const content = request.file ? await openLocal(request.file) : await store.getStream(m.object);
  const hasher = new PieceHasher(m.pieceLength);
  for await (const chunk of content as AsyncIterable<Buffer>) {
    hasher.update(chunk);
    run.onProgress?.(hasher.bytesHashed, m.size);
    if (hasher.bytesHashed > m.size) break;
  }
  const digests = hasher.digest();
  if (digests.size !== m.size)
    throw new ReleaseVerifyError(
      'SIZE_MISMATCH',
      `content is ${digests.size} bytes; the manifest says ${m.size}`,
    );
  const bad = m.pieces.findIndex((hash, i) => digests.pieces[i] !== hash);
  if (bad !== -1)
    throw new ReleaseVerifyError('PIECE_HASH_MISMATCH', `piece ${bad} does not match the manifest`);
  if (digests.sha256 !== m.sha256)
    throw new ReleaseVerifyError('HASH_MISMATCH', 'content sha256 differs from the manifest');
  checks.push('pieces sha256', 'file sha256');
  for (let i = 0; i < torrent.pieces.length; i++) {
    if (toHex(torrent.pieces[i]!) !== toHex(digests.sha1Pieces.subarray(i * 20, i * 20 + 20)))
      throw new ReleaseVerifyError('TORRENT_MISMATCH', `torrent piece ${i} SHA-1 does not match the content`);
  }
  checks.push('torrent pieces sha1');

  return {
    ok: true,
    product: request.product,
    channel,
    version: m.version,
    sequence: current.channel.sequence,
    expires: current.channel.expires,
    manifest: current.channel.manifest,
    object: m.object,
    size: m.size,
    sha256: m.sha256,
    pieceLength: m.pieceLength,
    pieceCount: m.pieces.length,
    infoHash: m.infoHash,
    content: request.file ? 'file' : 'store',
    checks,
  };
}

async function openLocal(path: string): Promise<Readable> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new PublishError('NOT_A_FILE', `${path} is not a regular file`);
  } catch (error) {
    if (error instanceof PublishError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PublishError('FILE_NOT_FOUND', `file ${path} does not exist`);
    throw new PublishError('FILE_UNREADABLE', `cannot read file ${path} (${code ?? 'error'})`);
  }
  return createReadStream(path, { highWaterMark: 1024 * 1024 });
}
