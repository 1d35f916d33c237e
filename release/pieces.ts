import { createHash } from 'node:crypto';
import { ReleaseVerifyError } from './errors.ts';
import type { ManifestSigned } from './schema.ts';

export const DEFAULT_PIECE_SIZE = 256 * 1024;
export const MIN_PIECE_SIZE = 16 * 1024;
export const MAX_PIECE_SIZE = 16 * 1024 * 1024;

/** Piece sizes are powers of two from 16 KiB to 16 MiB (BitTorrent clients expect powers of two). */
export function isValidPieceSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_PIECE_SIZE && n <= MAX_PIECE_SIZE && (n & (n - 1)) === 0;
}

export function pieceCount(size: number, pieceLength: number): number {
  return Math.ceil(size / pieceLength);
}

/** Byte range of piece `index`; the last piece may be short. */
export function pieceRange(
  manifest: Pick<ManifestSigned, 'size' | 'pieceLength'>,
  index: number,
): { offset: number; length: number } {
  const count = pieceCount(manifest.size, manifest.pieceLength);
  if (!Number.isInteger(index) || index < 0 || index >= count)
    throw new RangeError(`piece index ${index} out of range 0..${count - 1}`);
  const offset = index * manifest.pieceLength;
  return { offset, length: Math.min(manifest.pieceLength, manifest.size - offset) };
}

/** True when `bytes` is exactly piece `index` of the manifest (length and SHA-256). */
export function verifyPiece(
  manifest: Pick<ManifestSigned, 'size' | 'pieceLength' | 'pieces'>,
  index: number,
  bytes: Uint8Array,
): boolean {
  const expected = manifest.pieces[index];
  if (expected === undefined) return false;
  if (bytes.length !== pieceRange(manifest, index).length) return false;
  return createHash('sha256').update(bytes).digest('hex') === expected;
}

/** Like {@link verifyPiece} but throws PIECE_HASH_MISMATCH naming the piece. */
export function assertPiece(
  manifest: Pick<ManifestSigned, 'size' | 'pieceLength' | 'pieces'>,
  index: number,
  bytes: Uint8Array,
): void {
  if (!verifyPiece(manifest, index, bytes))
    throw new ReleaseVerifyError('PIECE_HASH_MISMATCH', `piece ${index} does not match the manifest`);
}
