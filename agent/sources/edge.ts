import { createEdgeClient, type EdgeCandidate, type EdgeClient } from '../../edge/index.ts';
import type { ManifestSigned } from '../../release/index.ts';
import type { Clock, Logger } from '../../runtime/index.ts';
import type { Endpoint } from '../../transport/index.ts';
import type { PieceSource } from '../types.ts';
import { ProgressMeter } from './progress-meter.ts';

export interface EdgeSourceOptions {
  manifest: ManifestSigned;
  candidates: EdgeCandidate[];
  /** Bounded discovery: with no answer by then, the agent fails forward to peers + CDN. */
  initTimeoutMs: number;
  region?: string;
  maxInFlight?: number;
}

/**
 * The best edge as a piece source: one-round-trip discovery across all candidates (edge/'s client on
 * the agent's own PZ endpoint), then block-mode piece requests over that session. Resolves undefined
 * when no edge answers in time — the download then simply goes on without one.
 */
export async function connectEdgeSource(
  options: EdgeSourceOptions,
  components: { endpoint: Endpoint; clock: Clock; logger: Logger },
): Promise<PieceSource | undefined> {
  if (options.candidates.length === 0) return undefined;
  const client: EdgeClient = createEdgeClient(
    { probeTimeoutMs: options.initTimeoutMs, ...(options.region ? { region: options.region } : {}) },
    components,
  );
  let sessionId: string;
  const meter = new ProgressMeter(components.clock);
  try {
    const session = await client.discoverEdges(options.candidates);
    sessionId = session.id;
    components.logger.info({ edge: session.id, rttMs: session.rttMs }, 'edge session up');
    // Every block on the session is a sign of life: the engine's stall check follows these, not the
    // time a whole piece takes (a device's share of a busy edge can be far below a piece per second).
    session.connection.onBlock(() => meter.bytesArrived());
  } catch (error) {
    components.logger.warn({ err: (error as Error).message }, 'no edge: continuing with peers and CDN');
    client.close();
    return undefined;
  }
  return {
    id: `edge:${sessionId}`,
    kind: 'edge',
    sourceClass: 'edge',
    maxInFlight: () => options.maxInFlight ?? 4,
    has: () => true,
    ready: () => client.session()?.closed === false,
    fetchPiece(index, signal) {
      // The edge client settles the request when the signal aborts and cancels it at the edge too.
      meter.requestStarted();
      return client.fetchPiece(options.manifest, index, signal).finally(() => meter.requestEnded());
    },
    progress: () => meter.progress(),
    close() {
      client.close();
    },
  };
}
