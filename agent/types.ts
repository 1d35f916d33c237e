/** Where a byte came from, as the tracker accounts for it (issue 6 byte accounting). */
export type SourceClass = 'peer-same-isp' | 'peer-other-isp' | 'edge' | 'cdn';
export const SOURCE_CLASSES: readonly SourceClass[] = ['peer-same-isp', 'peer-other-isp', 'edge', 'cdn'];

export type SourceKind = 'peer' | 'edge' | 'cdn';

/** Infrastructure = the operator pays for these bytes; the engine rations them. */
export function isInfrastructure(kind: SourceKind): boolean {
  return kind !== 'peer';
}

/**
 * Anything that can hand over whole pieces: a peer wire, an edge session, a CDN URL. The engine
 * requests whole pieces from one source so a bad piece is always attributable to exactly one source.
 */
export interface PieceSource {
  /** Unique and stable for the life of the source (used for bans and accounting). */
  readonly id: string;
  readonly kind: SourceKind;
  readonly sourceClass: SourceClass;
  /** How many piece requests may be outstanding at once. */
  maxInFlight(): number;
  /** Whether the source can supply this piece now (infrastructure: always). */
  has(index: number): boolean;
  /** False while the source cannot take requests (e.g. a peer choking us). */
  ready(): boolean;
  /** Resolves with the piece bytes (unverified) or rejects; must stop work when the signal aborts. */
  fetchPiece(index: number, signal: AbortSignal): Promise<Uint8Array>;
  /** Called by the engine when it drops the source (ban, shutdown); idempotent. */
  close(reason: string): void;
  /** Registers a callback for availability changes (have/bitfield/unchoke); returns an unsubscribe. */
  onChange?(handler: () => void): () => void;
  /**
   * Sources that see bytes arrive before a piece is whole (an edge session's blocks): when bytes last
   * arrived and the typical gap between arrivals while busy. The engine judges a request stalled by
   * silence, not by how long the whole piece takes, so a slow but steady link is never written off.
   */
  progress?(): SourceProgress | undefined;
}

export interface SourceProgress {
  /** Clock time of the last bytes received from this source, for any request. */
  lastAt: number;
  /** Smoothed gap between arrivals while requests were outstanding (ms). */
  intervalMs: number;
}

/** Bytes per source class, the shape reported to the tracker and printed by `agent fetch --json`. */
export type BytesBySource = Record<SourceClass, number>;

export function emptyBytesBySource(): BytesBySource {
  return { 'peer-same-isp': 0, 'peer-other-isp': 0, edge: 0, cdn: 0 };
}
