import { pieceRange } from '../../release/index.ts';

/** The parts of a manifest the engine needs: how the file splits into pieces and what each hashes to. */
export interface PieceLayout {
  size: number;
  pieceLength: number;
  /** Hex SHA-256 of each piece. */
  pieces: readonly string[];
}

/** Byte range of piece `index` (the last piece may be short): release/'s definition. */
export function pieceBounds(layout: PieceLayout, index: number): { offset: number; length: number } {
  return pieceRange(layout, index);
}
