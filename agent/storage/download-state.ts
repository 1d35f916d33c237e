import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { type BytesBySource, emptyBytesBySource } from '../types.ts';
import type { AgentStorage } from './storage.ts';

/**
 * Per-download state file. It names the release the sparse file belongs to (so a different release
 * never reuses its bytes), the pieces verified at the last checkpoint, and the accounting the tracker
 * report needs after a restart.
 */
export const DownloadStateSchema = Type.Object({
  schema: Type.Literal('swarmlane.agent-download/1'),
  manifestSha256: Type.String(),
  pieceCount: Type.Integer({ minimum: 1 }),
  have: Type.String({ description: 'base64 bitfield, wire order' }),
  bytesBySource: Type.Object({
    'peer-same-isp': Type.Number(),
    'peer-other-isp': Type.Number(),
    edge: Type.Number(),
    cdn: Type.Number(),
  }),
  uploaded: Type.Number(),
  startedAt: Type.Number(),
  completedAt: Type.Union([Type.Number(), Type.Null()]),
  failures: Type.Integer(),
});
export type DownloadState = Static<typeof DownloadStateSchema>;

export function newDownloadState(manifestSha256: string, pieceCount: number, now: number): DownloadState {
  return {
    schema: 'swarmlane.agent-download/1',
    manifestSha256,
    pieceCount,
    have: '',
    bytesBySource: emptyBytesBySource() as BytesBySource,
    uploaded: 0,
    startedAt: now,
    completedAt: null,
    failures: 0,
  };
}

/** Reads the state file; a missing or unreadable one yields undefined (the data file is rechecked anyway). */
export async function readDownloadState(
  path: string,
  storage: AgentStorage,
): Promise<DownloadState | undefined> {
  const text = await storage.readText(path);
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return Value.Check(DownloadStateSchema, value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export async function writeDownloadState(
  path: string,
  state: DownloadState,
  storage: AgentStorage,
): Promise<void> {
  await storage.writeAtomic(path, `${JSON.stringify(state)}\n`);
}

/**
 * Serialises checkpoint writes: at most one write runs, and at most one more is queued with the latest
 * state, so a burst of pieces costs two writes, not one per piece.
 */
export function createCheckpointer(write: () => Promise<void>): { request(): void; flush(): Promise<void> } {
  let running: Promise<void> | undefined;
  let again = false;
  const loop = async (): Promise<void> => {
    do {
      again = false;
      await write();
    } while (again);
    running = undefined;
  };
  return {
    request() {
      if (running) {
        again = true;
        return;
      }
      running = loop();
      running.catch(() => {
        running = undefined;
      });
    },
    async flush() {
      if (running) await running.catch(() => undefined);
      await write();
    },
  };
}
