import type { Random } from '../../runtime/index.ts';
import type { Bitfield } from './bitfield.ts';

/**
 * Piece selection, kept pure so it can be tested without sources or time.
 *
 * Peers: random pieces first (a new device quickly holds something worth trading), then rarest-first
 * among the pieces this peer has (ties broken at random so devices diverge), then endgame: when every
 * missing piece is already requested, ask a second source for an overdue one so a slow source cannot
 * hold up the end.
 *
 * Infrastructure (edge, CDN): only pieces no connected peer has or is about to have, rarest in the whole
 * swarm first (tracker hint) and otherwise random — so different devices pull different pieces from the
 * operator and then trade them. `anyPiece` lifts the restriction (no peers at all, or peers too slow);
 * the pieces peers cannot supply still come first.
 */
interface CommonPick {
  pieceCount: number;
  have: Bitfield;
  inFlightCount(index: number): number;
  inFlightFromSource(index: number): boolean;
  finishing: ReadonlySet<number>;
  endgameDuplicates: number;
  /**
   * Endgame races only requests that are overdue (absent: all are). A duplicate request costs a whole
   * piece of some uploader's link, the swarm's scarce resource, so it rescues slow requests only.
   */
  overdue?(index: number): boolean;
  random: Random;
}

export interface PeerPick extends CommonPick {
  availability: Int32Array;
  sourceHas(index: number): boolean;
  randomFirst: boolean;
}

export interface InfrastructurePick extends CommonPick {
  peerCanSupply(index: number): boolean;
  /** Connected peers holding each piece: among pieces peers can supply, the least held go first. */
  availability?: Int32Array;
  anyPiece: boolean;
  swarmRarity: readonly number[] | undefined;
}

export function pickPeerPiece(p: PeerPick): number | undefined {
  let best: number | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  let ties = 0;
  let missingNotInFlight = 0;
  for (let i = 0; i < p.pieceCount; i++) {
    if (p.have.get(i) || p.finishing.has(i) || p.inFlightCount(i) > 0) continue;
    missingNotInFlight++;
    if (!p.sourceHas(i)) continue;
    const score = p.randomFirst ? 0 : p.availability[i]!;
    if (score < bestScore) {
      bestScore = score;
      best = i;
      ties = 1;
    } else if (score === bestScore) {
      ties++;
      if (p.random.int(ties) === 0) best = i;
    }
  }
  if (best !== undefined || missingNotInFlight > 0) return best;
  return pickEndgame(p, (i) => p.sourceHas(i));
}

export function pickInfrastructurePiece(p: InfrastructurePick): number | undefined {
  let best: number | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  let ties = 0;
  let missingNotInFlight = 0;
  for (let i = 0; i < p.pieceCount; i++) {
    if (p.have.get(i) || p.finishing.has(i) || p.inFlightCount(i) > 0) continue;
    missingNotInFlight++;
    const supplied = p.peerCanSupply(i);
    if (!p.anyPiece && supplied) continue;
    // Pieces no peer can supply first, then the swarm's rarest, then the least held by our peers, so
    // infrastructure serves distinct pieces to different devices even when it may serve any piece.
    const score =
      (supplied ? 1e12 : 0) + (p.swarmRarity?.[i] ?? 0) * 1e6 + (supplied ? (p.availability?.[i] ?? 0) : 0);
    if (score < bestScore) {
      bestScore = score;
      best = i;
      ties = 1;
    } else if (score === bestScore) {
      ties++;
      if (p.random.int(ties) === 0) best = i;
    }
  }
  if (best !== undefined || missingNotInFlight > 0) return best;
  // Endgame for infrastructure only when it is allowed to serve anything: it then races a slow peer.
  return p.anyPiece ? pickEndgame(p, () => true) : undefined;
}

function pickEndgame(p: CommonPick, sourceHas: (index: number) => boolean): number | undefined {
  let best: number | undefined;
  let fewest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < p.pieceCount; i++) {
    if (p.have.get(i) || p.finishing.has(i)) continue;
    const count = p.inFlightCount(i);
    if (count === 0 || count >= p.endgameDuplicates || p.inFlightFromSource(i) || !sourceHas(i)) continue;
    if (p.overdue && !p.overdue(i)) continue;
    if (count < fewest) {
      fewest = count;
      best = i;
    }
  }
  return best;
}
