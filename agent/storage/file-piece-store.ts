import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { Bitfield } from '../engine/bitfield.ts';
import { type PieceLayout, pieceBounds } from '../engine/layout.ts';
import type { PieceStore } from './piece-store.ts';

/**
 * The download as one sparse file of the final size: pieces are written at their offsets as they
 * arrive, so a finished download is the release file itself, and uploads read straight from it.
 */
export async function openFilePieceStore(
  path: string,
  layout: PieceLayout,
): Promise<PieceStore & { path: string; handle: FileHandle }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r+');
  } catch {
    handle = await open(path, 'w+');
  }
  const { size } = await handle.stat();
  // truncate() both extends (sparse, no blocks allocated) and trims a file of the wrong size.
  if (size !== layout.size) await handle.truncate(layout.size);
  return {
    path,
    handle,
    async writePiece(index, bytes) {
      const { offset } = pieceBounds(layout, index);
      let written = 0;
      while (written < bytes.length) {
        const r = await handle.write(bytes, written, bytes.length - written, offset + written);
        written += r.bytesWritten;
      }
    },
    async readPiece(index) {
      const { offset, length } = pieceBounds(layout, index);
      const out = new Uint8Array(length);
      let read = 0;
      while (read < length) {
        const r = await handle.read(out, read, length - read, offset + read);
        if (r.bytesRead === 0) throw new Error(`short read of piece ${index}`);
        read += r.bytesRead;
      }
      return out;
    },
    async sync() {
      await handle.datasync();
    },
    async close() {
      await handle.close();
    },
  };
}

/**
 * Which pieces on disk match their manifest hash. Run on every start: whatever was written and
 * verified before a crash (even after the last state checkpoint) is found again and never refetched,
 * and anything torn or corrupted is fetched again. SHA-256 runs at ~1 GB/s, so this costs little.
 */
export async function recheckPieces(
  store: PieceStore,
  layout: PieceLayout,
  candidates?: Bitfield,
): Promise<Bitfield> {
  const have = new Bitfield(layout.pieces.length);
  for (let i = 0; i < layout.pieces.length; i++) {
    if (candidates && !candidates.get(i)) continue;
    const bytes = await store.readPiece(i);
    if (bytes.length === pieceBounds(layout, i).length && sha256Hex(bytes) === layout.pieces[i]) have.set(i);
  }
  return have;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
