import { createHash } from 'node:crypto';
import type { Clock, Logger, Random, TimerHandle } from '../../runtime/index.ts';
import { AgentError } from '../errors.ts';
import type { PieceStore } from '../storage/piece-store.ts';
import {
  type BytesBySource,
  emptyBytesBySource,
  isInfrastructure,
  type PieceSource,
  type SourceClass,
} from '../types.ts';
import type { Bitfield } from './bitfield.ts';
import { createInfraGate } from './infra-gate.ts';
import { type PieceLayout, pieceBounds } from './layout.ts';
import { pickInfrastructurePiece, pickPeerPiece } from './picker.ts';
import { RateEstimator } from './rate.ts';

/** Engine tuning. Defaults live in {@link DEFAULT_ENGINE_OPTIONS}; the agent config maps onto these. */
export interface EngineOptions {
  /** Pieces picked at random before switching to rarest-first, so a new device has something to trade. */
  randomFirstPieces: number;
  /** In endgame, at most this many sources fetch the same piece at once. */
  endgameDuplicates: number;
  /**
   * Endgame races a request only once it is overdue: older than this many times what its source's
   * last piece took, and than `endgameMinAgeMs`. Racing every outstanding request in the last pieces
   * sends most of them twice over uploaders' links: in a 50-device crowd that was ~10 % of all peer
   * upload, spent on pieces that were arriving on time anyway.
   */
  endgameOverdueFactor: number;
  endgameMinAgeMs: number;
  /** A piece request that takes longer than this is aborted and counted as an error of its source. */
  requestTimeoutMs: number;
  /** Bad (hash-mismatching) pieces from one source before it is banned. */
  banAfterBadPieces: number;
  /** Consecutive fetch errors (not bad data) before a source is dropped. */
  dropAfterErrors: number;
  /**
   * `swarm-first`: edges and the CDN serve only pieces no peer can supply soon, one request at a time
   * through the flash-crowd gate, with claims announced to peers. `web-seed`: they are ordinary sources
   * that have every piece (BEP 19 as a stock client uses it): rarest-first/random like any peer, no
   * gate, no claims.
   */
  infrastructureMode: 'swarm-first' | 'web-seed';
  /** Largest share of the file that may come from edges + CDN while peers exist (1 = no cap). */
  infrastructureShareCap: number;
  /**
   * Starving: the peer download rate has stayed below `peerRateFloorBps` for `peerRateFloorMs` while no
   * peer holding a piece we lack let us download from it in that time (choked out, or peers with
   * nothing for us), or for `peerRatePatienceMs` whatever the peers do. A device whose peers have its
   * pieces and unchoke it now and then is waiting its turn, not starving: in a young swarm everyone is
   * slow at once, and sending them all to infrastructure congests it and slows everyone further.
   */
  peerRateFloorBps: number;
  peerRateFloorMs: number;
  peerRatePatienceMs: number;
  /**
   * A starving device skips the flash-crowd gate but keeps at most this many infrastructure requests
   * out at once, for the pieces no peer can supply first, then the rarest in the swarm: a bounded share
   * of the edges per device, and distinct pieces across devices that then trade them.
   */
  starvingInFlight: number;
  /** Fail with NO_SOURCES when no piece arrives for this long (0 = wait forever). */
  stallTimeoutMs: number;
  /** Period of the housekeeping tick (starvation check, stall check). */
  tickMs: number;
  /**
   * After start, how long to wait for peers before infrastructure may serve any piece at full
   * parallelism (fail-forward). Until then, and whenever peers are connected, each infrastructure
   * source gets at most `infraInFlight` requests, for pieces no peer has or is about to have.
   */
  peerGraceMs: number;
  infraInFlight: number;
  /**
   * An infrastructure request is stalled when its source has been silent this long (at least), so it
   * stops counting against `infraInFlight` and its piece is fair game. Silence, not piece duration:
   * for a source that reports progress (edge blocks) it is the time since its last bytes, stretched to
   * `infraStallGaps` times its usual gap between arrivals; for a whole-piece source (HTTP range) it is
   * the time since the request started, stretched to 3 times what its last piece took (before the
   * first: the piece at `peerRateFloorBps`).
   */
  infraStallMs: number;
  infraStallGaps: number;
  /**
   * Peers in another ISP are not asked for pieces a same-ISP peer holds — one that lets us ask, or, while
   * a same-ISP peer is serving us, any connected one: those wait for a local request slot, so peer bytes
   * stay inside the ISP where they can, in the endgame too. At 300 devices in 4 ISPs (nat444-1k's mix):
   * unchoked holders only, intra-ISP peer bytes 83.5 -> 91.9 % on the wire, p95 6.5 -> 6.8 s; counting
   * choked holders while served locally (and no endgame race), 85.6 -> 87.7 %, p95 8.6 -> 9.4 s.
   */
  localPeersFirst: boolean;
  /**
   * How long `localPeersFirst` holds for one download. A device still downloading after this long is
   * one its ISP cannot yet supply (the first minutes of a flash crowd, when the ISP's few holders' uplinks
   * are full while other ISPs' seeders idle): from then on any peer may be asked for any piece.
   */
  localPeersPatienceMs: number;
  /** Flash-crowd gate (infra-gate.ts): mean wait between two rolls of one device. */
  infraGateMs: number;
  /** Flash-crowd gate: infrastructure requests the whole neighbourhood starts per round, in expectation. */
  infraRoundClaims: number;
  /** Flash-crowd gate: devices whose claims one device hears; larger swarms get a smaller budget. */
  infraClaimHorizon: number;
  /**
   * Flash-crowd gate: after start, no restricted infrastructure request for this long, so the first
   * peer connections form (and their claims are heard) before anyone rolls. Skipped when alone.
   */
  infraHoldMs: number;
}

/** How recently a same-ISP peer must have delivered a piece to count as serving us (local-first rule). */
const LOCAL_SERVING_MS = 3000;

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  randomFirstPieces: 4,
  endgameDuplicates: 2,
  endgameOverdueFactor: 2,
  endgameMinAgeMs: 1000,
  requestTimeoutMs: 30_000,
  banAfterBadPieces: 2,
  dropAfterErrors: 8,
  infrastructureMode: 'swarm-first',
  infrastructureShareCap: 1,
  peerRateFloorBps: 64 * 1024,
  peerRateFloorMs: 10_000,
  peerRatePatienceMs: 30_000,
  starvingInFlight: 4,
  stallTimeoutMs: 0,
  tickMs: 1000,
  peerGraceMs: 0,
  infraInFlight: 1,
  infraStallMs: 3000,
  infraStallGaps: 8,
  localPeersFirst: true,
  localPeersPatienceMs: 2_500,
  infraGateMs: 250,
  infraRoundClaims: 32,
  infraClaimHorizon: 64,
  infraHoldMs: 0,
};

export interface EngineComponents {
  clock: Clock;
  random: Random;
  logger: Logger;
  store: PieceStore;
  layout: PieceLayout;
  /** Pieces already verified on disk (resume); the engine sets bits as pieces complete. */
  have: Bitfield;
}

export type EngineEvent =
  | { type: 'piece'; index: number; sourceId: string; sourceClass: SourceClass; bytes: number }
  | { type: 'bad-piece'; index: number; sourceId: string }
  | { type: 'banned'; sourceId: string; reason: string }
  | { type: 'infra-request'; index: number; sourceId: string; unrestricted: boolean }
  | { type: 'complete' };

/**
 * Why an infrastructure request was allowed: `swarm` (the flash-crowd gate's roll, for a piece no peer
 * can supply soon), `alone` (no peer connected or known), `no-peers` (none connected after the grace
 * time), `starving` (peers below the rate floor), `web-seed` (policy: infrastructure is an ordinary source).
 */
export type InfraReason = 'swarm' | 'alone' | 'no-peers' | 'starving' | 'web-seed';

export interface EngineProgress {
  havePieces: number;
  totalPieces: number;
  haveBytes: number;
  totalBytes: number;
  bytesBySource: BytesBySource;
  /** Bytes fetched but discarded (bad data, duplicate endgame arrivals). */
  wastedBytes: number;
  /** Verified edge + CDN bytes by why their request was allowed (diagnostics: who pays and why). */
  infraBytesByReason: Record<InfraReason, number>;
  rateBps: number;
  sources: number;
}

interface SourceState {
  source: PieceSource;
  inFlight: Set<number>;
  /** piece -> why its infrastructure request was allowed */
  reasons: Map<number, InfraReason>;
  /** piece -> when its request started */
  startedAt: Map<number, number>;
  badPieces: number;
  errors: number;
  cooldownUntil: number;
  rate: RateEstimator;
  /** How long this source's last piece took, request to arrival (whole-piece stall check). */
  lastPieceMs: number;
  /** When this source last delivered a verified piece. */
  lastPieceAt: number;
  /** What this source contributed to `availability` (peers only), so resets can be undone exactly. */
  counted: Set<number>;
  /** Last time this peer had a piece we lack and let us request it (unchoked): we are in its turn. */
  servingAt: number;
  unsubscribe?: () => void;
}

export interface DownloadEngine {
  addSource(source: PieceSource): boolean;
  removeSource(id: string, reason: string): void;
  /** Resolves when every piece is verified and stored. */
  run(): Promise<void>;
  pause(): void;
  resume(): void;
  paused(): boolean;
  stop(reason: string): void;
  progress(): EngineProgress;
  on(handler: (event: EngineEvent) => void): () => void;
  /** Swarm-wide piece counts from the tracker; infrastructure serves the rarest first. */
  setSwarmRarity(counts: readonly number[]): void;
  /** Devices still downloading, per the tracker (sizes the flash-crowd gate). */
  setSwarmLeechers(count: number): void;
  /** Devices holding the whole release, per the tracker (a joiner waits for one before the gate rolls). */
  setSwarmSeeders(count: number): void;
  isBanned(id: string): boolean;
  sourceIds(): string[];
}

export function createDownloadEngine(
  partial: Partial<EngineOptions>,
  components: EngineComponents,
): DownloadEngine {
  const options: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, ...partial };
  const { clock, random, logger, store, layout, have } = components;
  const pieceCount = layout.pieces.length;
  const sources = new Map<string, SourceState>();
  const banned = new Set<string>();
  const availability = new Int32Array(pieceCount);
  /** piece -> source ids currently fetching it */
  const inFlight = new Map<number, Map<string, AbortController>>();
  /** pieces received and being verified/written: never re-requested meanwhile */
  const finishing = new Set<number>();
  const handlers = new Set<(event: EngineEvent) => void>();
  const bytesBySource = emptyBytesBySource();
  const infraBytesByReason: Record<InfraReason, number> = {
    swarm: 0,
    alone: 0,
    'no-peers': 0,
    starving: 0,
    'web-seed': 0,
  };
  const totalRate = new RateEstimator(clock);
  const peerRate = new RateEstimator(clock);
  let swarmRarity: readonly number[] | undefined;
  let wastedBytes = 0;
  let isPaused = false;
  /** Nothing is requested before run(): sources may join first, and the gate's hold starts at run(). */
  let running = false;
  let stopped: string | undefined;
  let starvingSince: number | undefined;
  let lastProgressAt = clock.now();
  let runStartedAt = clock.now();
  let swarmLeechers = 0;
  /** Devices holding the whole release, per the tracker. */
  let swarmSeeders = 0;
  let tickTimer: TimerHandle | undefined;
  let scheduled = false;
  let settle: { resolve: () => void; reject: (e: Error) => void } | undefined;

  const emit = (event: EngineEvent): void => {
    for (const handler of handlers) handler(event);
  };

  const haveBytes = (): number => {
    let total = 0;
    for (let i = 0; i < pieceCount; i++) if (have.get(i)) total += pieceBounds(layout, i).length;
    return total;
  };

  const infraBytes = (): number => bytesBySource.edge + bytesBySource.cdn;

  const peerCount = (): number => {
    let n = 0;
    for (const s of sources.values()) if (s.source.kind === 'peer') n++;
    return n;
  };

  const recount = (state: SourceState): void => {
    if (state.source.kind !== 'peer') return;
    for (const index of state.counted) availability[index]!--;
    state.counted.clear();
    for (let i = 0; i < pieceCount; i++) {
      if (state.source.has(i)) {
        state.counted.add(i);
        availability[i]!++;
      }
    }
  };

  const requestSchedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      schedule();
    });
  };

  const webSeed = options.infrastructureMode === 'web-seed';
  const gate = createInfraGate(
    {
      holdMs: options.infraHoldMs,
      roundMs: options.infraGateMs,
      roundClaims: options.infraRoundClaims,
      claimHorizon: options.infraClaimHorizon,
    },
    { clock, random, wake: () => requestSchedule() },
  );

  /** An infrastructure request whose source has gone quiet (see `infraStallMs`): it has stopped answering. */
  const isStalled = (state: SourceState, index: number, now: number): boolean => {
    const at = state.startedAt.get(index);
    if (!isInfrastructure(state.source.kind) || at === undefined) return false;
    const progress = state.source.progress?.();
    if (progress)
      return (
        now - Math.max(at, progress.lastAt) >=
        Math.max(options.infraStallMs, options.infraStallGaps * progress.intervalMs)
      );
    // Before its first piece, assume the rate floor: a slow first piece must not be written off at once.
    const expectedMs =
      state.lastPieceMs || (pieceBounds(layout, index).length * 1000) / Math.max(1, options.peerRateFloorBps);
    return now - at >= Math.max(options.infraStallMs, 3 * expectedMs);
  };

  /** Fetchers of a piece that still count: a piece held only by stalled requests is fair game. */
  const liveFetchers = (index: number): number => {
    const now = clock.now();
    let n = 0;
    for (const id of inFlight.get(index)?.keys() ?? []) {
      const st = sources.get(id);
      if (st && !isStalled(st, index, now)) n++;
    }
    return n;
  };

  /** Every live request for the piece is overdue (see `endgameOverdueFactor`): worth racing. */
  const overdue = (index: number): boolean => {
    const now = clock.now();
    for (const id of inFlight.get(index)?.keys() ?? []) {
      const st = sources.get(id);
      const at = st?.startedAt.get(index);
      if (!st || at === undefined) continue;
      const due = Math.max(options.endgameMinAgeMs, options.endgameOverdueFactor * st.lastPieceMs);
      if (now - at < due) return false;
    }
    return true;
  };

  /** Whether a connected peer has told us it holds every piece. */
  const seederConnected = (): boolean => {
    for (const s of sources.values())
      if (s.source.kind === 'peer' && s.counted.size === pieceCount) return true;
    return false;
  };

  /** What the flash-crowd gate needs to know; computed only when it actually rolls. */
  const gateView = () => {
    let unclaimed = 0;
    // A device joining a swarm that has seeders waits, within the peer grace time, until a seeder's
    // bitfield is in: rolled at the end of the start-up hold, half the late joiners of a running swarm
    // took a piece from infrastructure only because their peers' bitfields were a round trip away.
    const inGrace = clock.now() - runStartedAt < options.peerGraceMs;
    const awaitingSeeder = swarmSeeders > 0 && inGrace && !seederConnected();
    // Likewise a device the tracker put in a swarm with others waits, within the grace time, for its
    // first peer: with no session up, what it fetched could not be traded, and every early device of a
    // NAT-heavy swarm (sessions take a second or more to punch) pulled most of a copy on its own.
    const awaitingPeers = inGrace && peerCount() === 0 && swarmLeechers + swarmSeeders > 1;
    for (let i = 0; !awaitingSeeder && !awaitingPeers && i < pieceCount; i++)
      if (!have.get(i) && !finishing.has(i) && liveFetchers(i) === 0 && availability[i] === 0 && !peerSoon(i))
        unclaimed++;
    let downloading = 0;
    for (const s of sources.values())
      if (s.source.kind === 'peer' && s.counted.size < pieceCount) downloading++;
    // The tracker's leecher count covers devices we are not connected to, who pull from it too.
    const neighbours = Math.max(downloading, swarmLeechers - 1);
    return {
      unclaimed,
      neighbours,
      heard: downloading,
      alone: peerCount() === 0 && swarmLeechers <= 1 && swarmSeeders === 0,
    };
  };

  /** A peer has a piece we lack and lets us ask for it: we are being served, or will be in our turn. */
  const holdsPieceWeLack = (state: SourceState): boolean => {
    for (const index of state.counted) if (!have.get(index)) return true;
    return false;
  };

  const noteServing = (state: SourceState): void => {
    if (state.source.kind !== 'peer' || !state.source.ready()) return;
    if (holdsPieceWeLack(state)) state.servingAt = clock.now();
  };

  /**
   * Waiting our turn only makes sense in a young swarm, where everyone is slow at once: fewer seeders
   * than devices still downloading among our peers (their bitfields are current; the tracker's counts
   * are up to an announce interval old). Once seeders are as many, a device still below the floor is
   * being left out (it uploads little, its link is poor), not queued.
   */
  const waitingOurTurn = (): boolean => {
    let seeders = 0;
    let leechers = 1;
    for (const s of sources.values())
      if (s.source.kind === 'peer') {
        if (s.counted.size === pieceCount) seeders++;
        else leechers++;
      }
    if (seeders >= leechers) return false;
    const now = clock.now();
    for (const s of sources.values())
      if (s.source.kind === 'peer' && now - s.servingAt < options.peerRateFloorMs) return true;
    return false;
  };

  /** See `peerRateFloorMs`: slow for the floor time and choked out, or slow for the patience time. */
  const starving = (): boolean => {
    if (starvingSince === undefined) return false;
    const slowFor = clock.now() - starvingSince;
    if (slowFor >= options.peerRatePatienceMs) return true;
    return slowFor >= options.peerRateFloorMs && !waitingOurTurn();
  };

  /** Infrastructure may be used at all right now (cap, fail-forward when no peer is connected). */
  const infraBudgetLeft = (): boolean => {
    if (peerCount() === 0) return true;
    if (options.infrastructureShareCap >= 1) return true;
    let pending = 0;
    for (const [index, fetchers] of inFlight) {
      for (const id of fetchers.keys()) {
        const s = sources.get(id);
        if (s && isInfrastructure(s.source.kind)) pending += pieceBounds(layout, index).length;
      }
    }
    return infraBytes() + pending < options.infrastructureShareCap * layout.size;
  };

  const schedule = (): void => {
    if (!running || isPaused || stopped || have.complete()) return;
    const now = clock.now();
    // Peers in our ISP, then other peers (their bytes cross ISP borders), then edges, then the CDN
    // (the operator's fast path before its last resort); within a rank the fastest first, so when
    // pieces are scarce they go where they arrive soonest.
    const rank = (s: PieceSource): number =>
      s.kind === 'peer' ? (s.sourceClass === 'peer-same-isp' ? 0 : 1) : s.kind === 'edge' ? 2 : 3;
    const ordered = [...sources.values()].sort(
      (a, b) => rank(a.source) - rank(b.source) || b.rate.bps() - a.rate.bps(),
    );
    const noPeers = peerCount() === 0 && now - runStartedAt >= options.peerGraceMs;
    const infraUnrestricted = webSeed || noPeers;
    const isStarving = !infraUnrestricted && starving();
    const reason: InfraReason = webSeed
      ? 'web-seed'
      : noPeers
        ? 'no-peers'
        : isStarving
          ? 'starving'
          : peerCount() === 0 && swarmLeechers <= 1 && swarmSeeders === 0
            ? 'alone'
            : 'swarm';
    // While restricted, `infraInFlight` bounds the device's infrastructure requests across all edge and
    // CDN sources together, and the flash-crowd gate decides whether to start one at all. A request
    // outstanding longer than `infraStallMs` no longer holds its slot, and its source gets no more
    // restricted requests meanwhile: one stalled edge must not stop the device's infrastructure share.
    const gateOpen = (): boolean => infraUnrestricted || isStarving || gate.open(gateView);
    const infraLimit = isStarving ? options.starvingInFlight : options.infraInFlight;
    const stalled = (st: SourceState): boolean => {
      for (const index of st.startedAt.keys()) if (isStalled(st, index, now)) return true;
      return false;
    };
    let gateChecked: boolean | undefined;
    let infraBusy = 0;
    for (const s of sources.values())
      if (isInfrastructure(s.source.kind))
        for (const index of s.startedAt.keys()) if (!isStalled(s, index, now)) infraBusy++;
    // Restricted requests inject pieces nobody nearby has, so the swarm can only grow as fast as all
    // infrastructure together serves them. A device cannot see the load others put on an edge: always
    // choosing the edge first would leave the CDN idle while every device queues on the edge. Each
    // device therefore sends its restricted request to one usable infrastructure source at random.
    const usableInfra = restrictedInfraSources(now, infraUnrestricted, stalled);
    const chosenInfra = usableInfra.length > 0 ? usableInfra[random.int(usableInfra.length)] : undefined;
    // Pieces a same-ISP peer holds: a peer in another ISP is not asked for those (its bytes would cross
    // an ISP border for a piece we can get next door). While some same-ISP peer is serving us (it lets us
    // ask, has a piece we lack, and delivered one within LOCAL_SERVING_MS), that
    // counts the pieces of same-ISP peers still choking us too: they spread to the local peers that
    // serve us, or their holder unchokes us, a few hundred ms later. With no local peer serving us, only
    // those that let us ask count, so nobody waits on a choked peer — nor on an unchoked one that does
    // not deliver (the flash-crowd demo's first phone waited 30 s on one, its requests never answered).
    // Built once per pass, on demand.
    let localHas: Uint8Array | undefined;
    const heldLocally = (index: number): boolean => {
      if (!localHas) {
        localHas = new Uint8Array(pieceCount);
        const local: SourceState[] = [];
        let servedLocally = false;
        for (const s of sources.values()) {
          if (s.source.sourceClass !== 'peer-same-isp' || s.cooldownUntil > now) continue;
          local.push(s);
          servedLocally ||= s.source.ready() && now - s.lastPieceAt < LOCAL_SERVING_MS && holdsPieceWeLack(s);
        }
        for (const s of local)
          if (servedLocally || s.source.ready()) for (const i of s.counted) localHas[i] = 1;
      }
      return localHas[index] === 1;
    };
    for (const state of ordered) {
      const source = state.source;
      if (state.cooldownUntil > now || !source.ready()) continue;
      const restricted = isInfrastructure(source.kind) && !infraUnrestricted;
      const remotePeer =
        options.localPeersFirst &&
        source.sourceClass === 'peer-other-isp' &&
        now - runStartedAt < options.localPeersPatienceMs;
      // A starving device is one of few (the rule keeps a young swarm out): its bounded requests go to
      // the fastest usable source, edges first, rather than one at random.
      if (restricted && (stalled(state) || (!isStarving && state !== chosenInfra))) continue;
      const limit = source.maxInFlight();
      while (state.inFlight.size < limit && !(restricted && infraBusy >= infraLimit)) {
        let index: number | undefined;
        if (source.kind === 'peer' || webSeed) {
          if (source.kind !== 'peer' && !infraBudgetLeft()) break;
          index = pickPeerPiece({
            pieceCount,
            have,
            availability,
            // In the endgame too: an overdue local request is not raced from another ISP. At 300 devices
            // of nat444-1k's mix the races took eu-mobile devices' cross-ISP share from 10.9 to 13.0 % of
            // their peer bytes and did not shorten the tail (p95 8.2 s without them, 8.6 s with).
            sourceHas: remotePeer ? (i) => source.has(i) && !heldLocally(i) : (i) => source.has(i),
            inFlightCount: (i) => inFlight.get(i)?.size ?? 0,
            inFlightFromSource: (i) => state.inFlight.has(i),
            finishing,
            randomFirst: have.count() < options.randomFirstPieces,
            endgameDuplicates: options.endgameDuplicates,
            overdue,
            random,
          });
        } else {
          if (!infraBudgetLeft()) break;
          gateChecked ??= gateOpen();
          if (!gateChecked) break;
          index = pickInfrastructurePiece({
            pieceCount,
            have,
            peerCanSupply: (i) => availability[i]! > 0 || peerSoon(i),
            availability,
            inFlightCount: liveFetchers,
            inFlightFromSource: (i) => state.inFlight.has(i),
            finishing,
            anyPiece: infraUnrestricted || isStarving,
            swarmRarity,
            endgameDuplicates: options.endgameDuplicates,
            overdue,
            random,
          });
        }
        if (index === undefined) break;
        if (isInfrastructure(source.kind)) infraBusy++;
        startRequest(state, index, infraUnrestricted || isStarving, reason);
      }
    }
  };

  /** Infrastructure sources that could take a restricted request now (none when unrestricted). */
  const restrictedInfraSources = (
    now: number,
    unrestricted: boolean,
    stalled: (st: SourceState) => boolean,
  ): SourceState[] => {
    if (unrestricted) return [];
    return [...sources.values()].filter(
      (st) =>
        isInfrastructure(st.source.kind) &&
        st.cooldownUntil <= now &&
        st.source.ready() &&
        !stalled(st) &&
        st.inFlight.size < st.source.maxInFlight(),
    );
  };

  /** Pieces a connected peer told us it is fetching from infrastructure (BEP 6 suggest). */
  const peerSoon = (index: number): boolean => {
    for (const s of sources.values()) {
      const soon = (s.source as PieceSource & { soon?: (i: number) => boolean }).soon;
      if (soon?.call(s.source, index)) return true;
    }
    return false;
  };

  const startRequest = (
    state: SourceState,
    index: number,
    unrestricted: boolean,
    reason: InfraReason,
  ): void => {
    const controller = new AbortController();
    let fetchers = inFlight.get(index);
    if (!fetchers) {
      fetchers = new Map();
      inFlight.set(index, fetchers);
    }
    fetchers.set(state.source.id, controller);
    state.inFlight.add(index);
    state.startedAt.set(index, clock.now());
    if (isInfrastructure(state.source.kind)) state.reasons.set(index, reason);
    // A web seed is just another source: stock clients announce nothing about what they fetch from it.
    if (isInfrastructure(state.source.kind) && !webSeed)
      emit({ type: 'infra-request', index, sourceId: state.source.id, unrestricted });
    const timer = clock.setTimer(options.requestTimeoutMs, () =>
      controller.abort(new Error(`piece ${index} timed out after ${options.requestTimeoutMs} ms`)),
    );
    const startedAt = clock.now();
    state.source.fetchPiece(index, controller.signal).then(
      (bytes) => {
        clock.clearTimer(timer);
        state.lastPieceMs = clock.now() - startedAt;
        const why = state.reasons.get(index);
        finishRequest(state, index);
        void onPiece(state, index, bytes, why);
      },
      (error: unknown) => {
        clock.clearTimer(timer);
        const timedOut = controller.signal.aborted && controller.signal.reason instanceof Error;
        const cancelled = controller.signal.aborted && !timedOut;
        finishRequest(state, index);
        if (!cancelled && sources.get(state.source.id) === state) onError(state, index, error);
        requestSchedule();
      },
    );
  };

  const finishRequest = (state: SourceState, index: number): void => {
    state.inFlight.delete(index);
    state.reasons.delete(index);
    state.startedAt.delete(index);
    const fetchers = inFlight.get(index);
    fetchers?.delete(state.source.id);
    if (fetchers && fetchers.size === 0) inFlight.delete(index);
  };

  const onError = (state: SourceState, index: number, error: unknown): void => {
    // Soft failures (a peer choking us, rejecting a request) are normal protocol flow, not faults.
    if ((error as { soft?: boolean } | undefined)?.soft) return;
    state.errors++;
    const backoff = Math.min(30_000, 500 * 2 ** Math.min(state.errors - 1, 6));
    state.cooldownUntil = clock.now() + backoff;
    logger.debug(
      { source: state.source.id, piece: index, err: error instanceof Error ? error.message : String(error) },
      'piece request failed',
    );
    if (state.errors >= options.dropAfterErrors)
      removeSource(state.source.id, `${state.errors} consecutive errors`);
  };

  const onPiece = async (
    state: SourceState,
    index: number,
    bytes: Uint8Array,
    why: InfraReason | undefined,
  ): Promise<void> => {
    const expected = layout.pieces[index]!;
    const { length } = pieceBounds(layout, index);
    if (have.get(index) || finishing.has(index)) {
      wastedBytes += bytes.length;
      requestSchedule();
      return;
    }
    const ok = bytes.length === length && createHash('sha256').update(bytes).digest('hex') === expected;
    if (!ok) {
      wastedBytes += bytes.length;
      state.badPieces++;
      emit({ type: 'bad-piece', index, sourceId: state.source.id });
      logger.warn({ source: state.source.id, piece: index }, 'piece failed verification');
      if (state.badPieces >= options.banAfterBadPieces) {
        banned.add(state.source.id);
        emit({ type: 'banned', sourceId: state.source.id, reason: 'sent corrupt pieces' });
        removeSource(state.source.id, 'banned: sent corrupt pieces');
      }
      requestSchedule();
      return;
    }
    finishing.add(index);
    // Other sources still fetching this piece (endgame) are cancelled: the bytes are no longer needed.
    const others = inFlight.get(index);
    if (others)
      for (const [id, controller] of others) {
        // Overtaken while stalled: the source backs off like after an error, instead of getting the next piece.
        const other = sources.get(id);
        if (other && other !== state && isStalled(other, index, clock.now()))
          onError(other, index, 'stalled');
        controller.abort('duplicate');
      }
    try {
      await store.writePiece(index, bytes);
    } catch (error) {
      finishing.delete(index);
      fail(new AgentError('DOWNLOAD_ABORTED', `cannot write piece ${index}: ${String(error)}`));
      return;
    }
    finishing.delete(index);
    have.set(index);
    state.errors = 0;
    state.lastPieceAt = clock.now();
    state.rate.add(bytes.length);
    totalRate.add(bytes.length);
    if (state.source.kind === 'peer') {
      peerRate.add(bytes.length);
      state.servingAt = clock.now();
    }
    bytesBySource[state.source.sourceClass] += bytes.length;
    if (why) infraBytesByReason[why] += bytes.length;
    lastProgressAt = clock.now();
    emit({
      type: 'piece',
      index,
      sourceId: state.source.id,
      sourceClass: state.source.sourceClass,
      bytes: bytes.length,
    });
    if (have.complete()) {
      finish();
      return;
    }
    requestSchedule();
  };

  const tick = (): void => {
    tickTimer = undefined;
    if (stopped || have.complete()) return;
    const now = clock.now();
    if (peerCount() > 0 && !isPaused && peerRate.bps() < options.peerRateFloorBps) starvingSince ??= now;
    else starvingSince = undefined;
    for (const s of sources.values()) noteServing(s);
    if (
      options.stallTimeoutMs > 0 &&
      !isPaused &&
      now - lastProgressAt >= options.stallTimeoutMs &&
      settle !== undefined
    ) {
      fail(
        new AgentError('NO_SOURCES', `no piece arrived for ${Math.round(options.stallTimeoutMs / 1000)} s`),
      );
      return;
    }
    schedule();
    tickTimer = clock.setTimer(options.tickMs, tick);
  };

  const abortAll = (reason: string): void => {
    for (const fetchers of inFlight.values()) for (const c of fetchers.values()) c.abort(reason);
  };

  const finish = (): void => {
    gate.close();
    if (tickTimer) clock.clearTimer(tickTimer);
    tickTimer = undefined;
    abortAll('complete');
    emit({ type: 'complete' });
    settle?.resolve();
    settle = undefined;
  };

  const fail = (error: Error): void => {
    stopped = error.message;
    gate.close();
    if (tickTimer) clock.clearTimer(tickTimer);
    tickTimer = undefined;
    abortAll('stopped');
    settle?.reject(error);
    settle = undefined;
  };

  function removeSource(id: string, reason: string): void {
    const state = sources.get(id);
    if (!state) return;
    sources.delete(id);
    state.unsubscribe?.();
    for (const index of state.counted) availability[index]!--;
    state.counted.clear();
    for (const index of state.inFlight) inFlight.get(index)?.get(id)?.abort('source removed');
    state.source.close(reason);
    logger.debug({ source: id, reason }, 'source removed');
    requestSchedule();
  }

  return {
    addSource(source) {
      if (banned.has(source.id) || sources.has(source.id) || stopped) return false;
      const state: SourceState = {
        source,
        inFlight: new Set(),
        reasons: new Map(),
        startedAt: new Map(),
        badPieces: 0,
        errors: 0,
        cooldownUntil: 0,
        lastPieceMs: 0,
        lastPieceAt: Number.NEGATIVE_INFINITY,
        rate: new RateEstimator(clock),
        counted: new Set(),
        servingAt: Number.NEGATIVE_INFINITY,
      };
      sources.set(source.id, state);
      recount(state);
      state.unsubscribe = source.onChange?.(() => {
        if (sources.get(source.id) !== state) return;
        recount(state);
        noteServing(state);
        requestSchedule();
      });
      requestSchedule();
      return true;
    },
    removeSource,
    run() {
      if (have.complete()) return Promise.resolve();
      if (stopped) return Promise.reject(new AgentError('DOWNLOAD_ABORTED', stopped));
      return new Promise<void>((resolve, reject) => {
        settle = { resolve, reject };
        running = true;
        lastProgressAt = clock.now();
        runStartedAt = clock.now();
        gate.start();
        if (!tickTimer) tickTimer = clock.setTimer(options.tickMs, tick);
        requestSchedule();
      });
    },
    pause() {
      if (isPaused) return;
      isPaused = true;
      abortAll('paused');
    },
    resume() {
      if (!isPaused) return;
      isPaused = false;
      lastProgressAt = clock.now();
      gate.start();
      requestSchedule();
    },
    paused: () => isPaused,
    stop(reason) {
      if (stopped || have.complete()) return;
      fail(new AgentError('DOWNLOAD_ABORTED', reason));
    },
    progress() {
      return {
        havePieces: have.count(),
        totalPieces: pieceCount,
        haveBytes: haveBytes(),
        totalBytes: layout.size,
        bytesBySource: { ...bytesBySource },
        wastedBytes,
        infraBytesByReason: { ...infraBytesByReason },
        rateBps: totalRate.bps(),
        sources: sources.size,
      };
    },
    on(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    setSwarmRarity(counts) {
      swarmRarity = counts;
    },
    setSwarmLeechers(count) {
      swarmLeechers = Math.max(0, count);
    },
    setSwarmSeeders(count) {
      swarmSeeders = Math.max(0, count);
    },
    isBanned: (id) => banned.has(id),
    sourceIds: () => [...sources.keys()],
  };
}
