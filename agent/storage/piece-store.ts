/** Where verified pieces go and where uploads read them from. */
export interface PieceStore {
  writePiece(index: number, bytes: Uint8Array): Promise<void>;
  readPiece(index: number): Promise<Uint8Array>;
  /** Makes written pieces durable (fdatasync); called before the state file records them. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** In-memory store for tests and the lab's many-agents-in-one-process runs. */
export function createMemoryPieceStore(): PieceStore & { pieces: Map<number, Uint8Array> } {
  const pieces = new Map<number, Uint8Array>();
  return {
    pieces,
    async writePiece(index, bytes) {
      pieces.set(index, bytes);
    },
    async readPiece(index) {
      const bytes = pieces.get(index);
      if (!bytes) throw new Error(`piece ${index} not stored`);
      return bytes;
    },
    async sync() {},
    async close() {},
  };
}
