import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, link, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { StoreError } from '../errors.ts';
import { checkKey } from './keys.ts';
import { fillingReader } from './pull-body.ts';
import type { ByteRange, ObjectStore, PutOptions } from './types.ts';

/** Uploads land here first and are renamed into place, so a key never holds a partial object. */
const TMP_DIR = '.swarmlane-tmp';

function mapFsError(error: unknown, key: string): never {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') throw new StoreError('NOT_FOUND', `no object at ${key}`, { cause: error });
  if (code === 'EACCES' || code === 'EPERM')
    throw new StoreError('STORE_UNAUTHORIZED', `permission denied for ${key}`, { cause: error });
  if (code === 'EEXIST') throw new StoreError('ALREADY_EXISTS', `${key} already exists`, { cause: error });
  throw new StoreError('STORE_ERROR', `file store: ${(error as Error).message}`, { cause: error });
}

/** `file:///dir`: the embedded default. Put-if-absent is atomic (hard link fails on an existing key). */
export function createFileStore(url: string): ObjectStore {
  const root = fileURLToPath(url);
  const pathOf = (key: string): string => join(root, ...checkKey(key).split('/'));

  async function readRange(key: string, range?: ByteRange): Promise<Uint8Array> {
    const handle = await open(pathOf(key), 'r').catch((e) => mapFsError(e, key));
    try {
      const size = (await handle.stat()).size;
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? size - 1, size - 1);
      if (start > end) return new Uint8Array(0);
      const out = Buffer.allocUnsafe(end - start + 1);
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await handle.read(out, done, out.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return new Uint8Array(out.buffer, out.byteOffset, done);
    } finally {
      await handle.close();
    }
  }

  return {
    url,
    get: readRange,
    async getStream(key, range) {
      const path = pathOf(key);
      await stat(path).catch((e) => mapFsError(e, key));
      return createReadStream(path, range ? { start: range.start, end: range.end } : {});
    },
    async head(key) {
      try {
        const s = await stat(pathOf(key));
        return s.isFile() ? { size: s.size, etag: `${s.size}-${s.mtimeMs}` } : null;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        return mapFsError(error, key);
      }
    },
    async put(key, body, options: PutOptions = {}) {
      const target = pathOf(key);
      const tmpDir = join(root, TMP_DIR);
      await mkdir(tmpDir, { recursive: true }).catch((e) => mapFsError(e, key));
      await mkdir(dirname(target), { recursive: true }).catch((e) => mapFsError(e, key));
      const tmp = join(tmpDir, `${process.pid}-${randomUUID()}`);
      try {
        const handle = await open(tmp, 'wx', 0o644);
        try {
          if (body instanceof Uint8Array) await handle.writeFile(body);
          else await writeAll(body, handle, options.signal);
          await handle.sync();
        } finally {
          await handle.close();
        }
        if (options.ifAbsent) await link(tmp, target);
        else await rename(tmp, target);
      } catch (error) {
        if (error instanceof StoreError) throw error;
        if (options.signal?.aborted || (error as Error).name === 'AbortError') throw error;
        return mapFsError(error, key);
      } finally {
        await unlink(tmp).catch(() => {});
      }
    },
    async list(prefix) {
      const out: string[] = [];
      async function walk(dir: string): Promise<void> {
        let entries: import('node:fs').Dirent[];
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw error;
        }
        for (const entry of entries) {
          const path = join(dir, entry.name);
          if (entry.isDirectory()) {
            if (dir === root && entry.name === TMP_DIR) continue;
            await walk(path);
          } else if (entry.isFile()) {
            const key = relative(root, path).split(sep).join('/');
            if (key.startsWith(prefix)) out.push(key);
          }
        }
      }
      // Start at the deepest directory the prefix names, so listing one product does not walk the store.
      const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
      if (base) checkKey(base);
      await walk(base ? join(root, ...base.split('/')) : root).catch((e) => mapFsError(e, prefix));
      return out.sort();
    },
  };
}

/** Write size for streamed bodies: one buffer, reused for the whole copy. */
const COPY_CHUNK = 1024 * 1024;

/** Copies a stream into an open file through one reused buffer (the await is the backpressure). */
async function writeAll(source: Readable, handle: FileHandle, signal?: AbortSignal): Promise<void> {
  const fill = fillingReader(source, signal);
  const buffer = Buffer.allocUnsafeSlow(COPY_CHUNK);
  try {
    for (;;) {
      const n = await fill(buffer);
      if (n === 0) break;
      let written = 0;
      while (written < n) {
        const { bytesWritten } = await handle.write(buffer, written, n - written);
        written += bytesWritten;
      }
      if (n < buffer.length) break;
    }
  } catch (error) {
    source.destroy();
    throw error;
  }
}
