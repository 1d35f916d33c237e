import { createHash, type Hash } from 'node:crypto';

export interface PieceDigests {
  size: number;
  /** Hex SHA-256 of the whole file. */
  sha256: string;
  /** Hex SHA-256 per piece (the manifest's `pieces`). */
  pieces: string[];
  /** Concatenated 20-byte SHA-1 per piece (the torrent's `info.pieces`). */
  sha1Pieces: Uint8Array;
}

/**
 * Computes everything a release needs from one pass over the bytes: the whole-file SHA-256, and per
 * piece both SHA-256 (manifest) and SHA-1 (BitTorrent v1). Chunks may have any size; piece hashes are
 * fed incrementally, so nothing is buffered beyond the chunk itself.
 */
export class PieceHasher {
  readonly pieceLength: number;
  private readonly whole = createHash('sha256');
  private pieceSha256: Hash;
  private pieceSha1: Hash;
  private inPiece = 0;
  private total = 0;
  private readonly pieces: string[] = [];
  private readonly sha1: Buffer[] = [];

  constructor(pieceLength: number) {
    this.pieceLength = pieceLength;
    this.pieceSha256 = createHash('sha256');
    this.pieceSha1 = createHash('sha1');
  }

  get bytesHashed(): number {
    return this.total;
  }

  update(chunk: Uint8Array): void {
    this.whole.update(chunk);
    this.total += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.pieceLength - this.inPiece, chunk.length - offset);
      const part = take === chunk.length ? chunk : chunk.subarray(offset, offset + take);
      this.pieceSha256.update(part);
      this.pieceSha1.update(part);
      this.inPiece += take;
      offset += take;
      if (this.inPiece === this.pieceLength) this.closePiece();
    }
  }

  digest(): PieceDigests {
    if (this.inPiece > 0) this.closePiece();
    return {
      size: this.total,
      sha256: this.whole.digest('hex'),
      pieces: this.pieces,
      sha1Pieces: new Uint8Array(Buffer.concat(this.sha1)),
    };
  }

  private closePiece(): void {
    this.pieces.push(this.pieceSha256.digest('hex'));
    this.sha1.push(this.pieceSha1.digest());
    this.pieceSha256 = createHash('sha256');
    this.pieceSha1 = createHash('sha1');
    this.inPiece = 0;
  }
}

/** Convenience for whole buffers (tests, small files). */
export function hashPieces(bytes: Uint8Array, pieceLength: number): PieceDigests {
  const hasher = new PieceHasher(pieceLength);
  hasher.update(bytes);
  return hasher.digest();
}
