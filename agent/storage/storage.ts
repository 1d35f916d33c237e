import { createHash } from 'node:crypto';
import { copyFile, mkdir, open, readFile } from 'node:fs/promises';
import type { PieceLayout } from '../engine/layout.ts';
import { pieceBounds } from '../engine/layout.ts';
import { writeFileAtomic } from './atomic.ts';
import { openFilePieceStore } from './file-piece-store.ts';
import type { PieceStore } from './piece-store.ts';

/**
 * Everything the agent persists goes through this: the real filesystem on a device, memory in the lab
 * (thousands of agents in one process, where real file I/O would also stall virtual time).
 */
export interface AgentStorage {
  mkdir(dir: string): Promise<void>;
  /** undefined when missing. */
  readText(path: string): Promise<string | undefined>;
  /** Crash-safe replace (write, fsync, rename). */
  writeAtomic(path: string, text: string | Uint8Array): Promise<void>;
  openPieceStore(path: string, layout: PieceLayout): Promise<PieceStore>;
  /** SHA-256 of a whole stored file. */
  sha256(path: string): Promise<string>;
  copyOut(path: string, destination: string): Promise<void>;
}

export function createNodeStorage(): AgentStorage {
  return {
    mkdir: async (dir) => {
      await mkdir(dir, { recursive: true });
    },
    async readText(path) {
      try {
        return await readFile(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    writeAtomic: writeFileAtomic,
    openPieceStore: (path, layout) => openFilePieceStore(path, layout),
    async sha256(path) {
      const hash = createHash('sha256');
      const handle = await open(path, 'r');
      try {
        const buffer = new Uint8Array(1 << 20);
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
          if (bytesRead === 0) break;
          hash.update(buffer.subarray(0, bytesRead));
        }
      } finally {
        await handle.close();
      }
      return hash.digest('hex');
    },
    copyOut: (path, destination) => copyFile(path, destination),
  };
}

/** In-memory storage: files are byte arrays, piece files are sparse maps of pieces. */
export function createMemoryStorage(): AgentStorage & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  const pieceFiles = new Map<string, { layout: PieceLayout; pieces: Map<number, Uint8Array> }>();
  const assemble = (path: string): Uint8Array => {
    const entry = pieceFiles.get(path);
    if (!entry) {
      const file = files.get(path);
      if (!file) throw new Error(`no such file ${path}`);
      return file;
    }
    const out = new Uint8Array(entry.layout.size);
    for (const [index, bytes] of entry.pieces) out.set(bytes, pieceBounds(entry.layout, index).offset);
    return out;
  };
  return {
    files,
    async mkdir() {},
    async readText(path) {
      const bytes = files.get(path);
      return bytes ? new TextDecoder().decode(bytes) : undefined;
    },
    async writeAtomic(path, text) {
      files.set(path, typeof text === 'string' ? new TextEncoder().encode(text) : new Uint8Array(text));
    },
    async openPieceStore(path, layout) {
      let entry = pieceFiles.get(path);
      if (!entry || entry.layout.size !== layout.size || entry.layout.pieceLength !== layout.pieceLength) {
        entry = { layout, pieces: new Map() };
        pieceFiles.set(path, entry);
      }
      const pieces = entry.pieces;
      return {
        async writePiece(index, bytes) {
          pieces.set(index, bytes);
        },
        async readPiece(index) {
          return pieces.get(index) ?? new Uint8Array(pieceBounds(layout, index).length);
        },
        async sync() {},
        async close() {},
      };
    },
    async sha256(path) {
      return createHash('sha256').update(assemble(path)).digest('hex');
    },
    async copyOut(path, destination) {
      files.set(destination, assemble(path));
    },
  };
}
