import { join } from 'node:path';
import type { Clock, Logger, Random } from '../runtime/index.ts';
import { Bitfield } from './engine/bitfield.ts';
import { createDownloadEngine, type DownloadEngine, type EngineOptions } from './engine/download.ts';
import type { VerifiedRelease } from './release-check.ts';
import {
  createCheckpointer,
  type DownloadState,
  newDownloadState,
  readDownloadState,
  writeDownloadState,
} from './storage/download-state.ts';
import { recheckPieces } from './storage/file-piece-store.ts';
import type { PieceStore } from './storage/piece-store.ts';
import type { AgentStorage } from './storage/storage.ts';

/** One release being downloaded (or seeded) from a state directory: data file, state file, engine. */
export interface DownloadJob {
  readonly release: VerifiedRelease;
  readonly path: string;
  readonly store: PieceStore;
  readonly have: Bitfield;
  readonly engine: DownloadEngine;
  readonly state: DownloadState;
  /** Pieces found verified on disk at open (resume). */
  readonly resumedPieces: number;
  checkpoint(): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function releaseDir(stateDir: string, product: string, version: string): string {
  return join(stateDir, 'releases', product, version);
}

export async function openDownloadJob(
  release: VerifiedRelease,
  options: { stateDir: string; engine: Partial<EngineOptions> },
  components: { clock: Clock; random: Random; logger: Logger; storage: AgentStorage },
): Promise<DownloadJob> {
  const { manifest } = release;
  const dir = releaseDir(options.stateDir, manifest.product, manifest.version);
  const { storage } = components;
  await storage.mkdir(dir);
  const path = join(dir, manifest.file);
  const statePath = join(dir, 'state.json');
  const previous = await readDownloadState(statePath, storage);
  const sameRelease = previous?.manifestSha256 === release.manifestSha256;
  const store = await storage.openPieceStore(path, manifest);
  // Recheck everything on disk: pieces written after the last checkpoint are found too.
  const have =
    sameRelease || previous === undefined
      ? await recheckPieces(store, manifest)
      : new Bitfield(manifest.pieces.length);
  const state =
    sameRelease && previous
      ? previous
      : newDownloadState(release.manifestSha256, manifest.pieces.length, components.clock.now());
  const engine = createDownloadEngine(options.engine, { ...components, store, layout: manifest, have });
  const checkpointer = createCheckpointer(async () => {
    await store.sync();
    state.have = Buffer.from(have.bytes).toString('base64');
    await writeDownloadState(statePath, state, storage);
  });
  // A manifest that peers served is peer traffic like the pieces: it counts in the peer classes. The
  // CDN's documents (pointer, manifest) have never been in these payload counters: the CDN bills them.
  const m = release.manifestSource;
  if (m.sourceClass === 'peer-same-isp' || m.sourceClass === 'peer-other-isp')
    state.bytesBySource[m.sourceClass] += m.bytes;
  const baseBytes = { ...state.bytesBySource };
  engine.on((event) => {
    if (event.type === 'piece') {
      const p = engine.progress();
      for (const k of Object.keys(baseBytes) as Array<keyof typeof baseBytes>)
        state.bytesBySource[k] = baseBytes[k] + p.bytesBySource[k];
      if (have.complete() && state.completedAt === null) state.completedAt = components.clock.now();
      checkpointer.request();
    } else if (event.type === 'bad-piece') {
      state.failures++;
    }
  });
  components.logger.info(
    {
      product: manifest.product,
      version: manifest.version,
      resumed: have.count(),
      pieces: manifest.pieces.length,
    },
    'download opened',
  );
  return {
    release,
    path,
    store,
    have,
    engine,
    state,
    resumedPieces: have.count(),
    checkpoint: () => checkpointer.request(),
    flush: () => checkpointer.flush(),
    async close() {
      await checkpointer.flush();
      await store.close();
    },
  };
}
