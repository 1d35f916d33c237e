import { type FileHandle, open } from 'node:fs/promises';
import { basename } from 'node:path';
import { PieceHasher, PullBody } from '../release/index.ts';
import { PublishError } from './errors.ts';

/** Reads in 1 MiB chunks: large enough for hashing throughput, small enough to keep memory flat. */
export const READ_CHUNK = 1024 * 1024;

export interface ReleaseFile {
  path: string;
  /** Base name, used as the object's file name. */
  name: string;
  size: number;
  mtimeMs: number;
  handle: FileHandle;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$/;
const RESERVED = new Set(['manifest.json', 'release.torrent']);

/** Opens the release file, refusing what cannot be published (missing, unreadable, empty, not a file). */
export async function openReleaseFile(path: string): Promise<ReleaseFile> {
  const name = basename(path);
  if (!SAFE_NAME.test(name) || RESERVED.has(name))
    throw new PublishError(
      'INVALID_ARGUMENT',
      `file name "${name}" must match [A-Za-z0-9][A-Za-z0-9._+-]* and not be manifest.json or release.torrent`,
    );
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PublishError('FILE_NOT_FOUND', `file ${path} does not exist`);
    throw new PublishError('FILE_UNREADABLE', `cannot read file ${path} (${code ?? 'error'})`, {
      cause: error,
    });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new PublishError('NOT_A_FILE', `${path} is not a regular file`);
    if (stat.size === 0) throw new PublishError('FILE_EMPTY', `file ${path} is empty`);
    // Reading one byte surfaces EISDIR/EIO-style problems before anything is uploaded.
    await handle.read(Buffer.alloc(1), 0, 1, 0).catch((error: NodeJS.ErrnoException) => {
      throw new PublishError('FILE_UNREADABLE', `cannot read file ${path} (${error.code ?? 'error'})`, {
        cause: error,
      });
    });
    return { path, name, size: stat.size, mtimeMs: stat.mtimeMs, handle };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Fails when the file changed while it was being read: the hashes would describe bytes nobody has. */
export async function assertUnchanged(file: ReleaseFile, bytesRead: number): Promise<void> {
  const stat = await file.handle.stat();
  if (bytesRead !== file.size || stat.size !== file.size || stat.mtimeMs !== file.mtimeMs)
    throw new PublishError('FILE_CHANGED', `file ${file.path} changed while it was being published`);
}

/**
 * The file as an upload body that hashes every byte as the store pulls it, so the file is read exactly
 * once, into the store's own buffers (see PullBody). `bytesRead` counts what has been read so far.
 */
export function hashingBody(
  file: ReleaseFile,
  hasher: PieceHasher,
  onProgress?: (bytes: number) => void,
): PullBody {
  let position = 0;
  return new PullBody(async (into) => {
    const { bytesRead } = await file.handle.read(into, 0, into.length, position);
    if (bytesRead === 0) return 0;
    hasher.update(into.subarray(0, bytesRead));
    position += bytesRead;
    onProgress?.(position);
    return bytesRead;
  });
}

/** Hashes a file without uploading it (used to compare against an already published version). */
export async function hashFile(
  file: ReleaseFile,
  pieceLength: number,
  onProgress?: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<ReturnType<PieceHasher['digest']>> {
  const hasher = new PieceHasher(pieceLength);
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  let position = 0;
  for (;;) {
    signal?.throwIfAborted();
    const { bytesRead } = await file.handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    hasher.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
    onProgress?.(position);
  }
  return hasher.digest();
}
