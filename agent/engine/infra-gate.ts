import type { Clock, Random, TimerHandle } from '../../runtime/index.ts';

/**
 * The flash-crowd gate: decides whether this device may start one more infrastructure (edge/CDN)
 * request while peers are around. Devices do not coordinate, so each one rolls a die sized to its
 * neighbourhood: with m pieces that nobody nearby has or is fetching and n other downloading devices,
 * it starts a request with probability min(m, roundClaims) / (n + 1). In expectation the whole
 * neighbourhood then starts about min(m, roundClaims) distinct infrastructure requests per round
 * instead of one per device — every device sees the same missing pieces, so without the gate a crowd
 * of n pulls the same pieces n times, and n parallel requests share the infrastructure's bandwidth so
 * that none of them lands early enough to be traded.
 *
 * Claims are only heard one relay hop away, so in a swarm much larger than that horizon the same
 * "unclaimed" piece looks unclaimed to devices in many neighbourhoods at once, and R claims per round
 * become R per round per neighbourhood: at 1,000 devices that pulled hundreds of copies. The budget is
 * therefore scaled by the share of the swarm one device can hear, min(1, claimHorizon / (n + 1)):
 * the whole swarm starts about R × claimHorizon / (n + 1) requests per round, fewer and slower
 * injections that each reach more devices through peers before anyone else fetches the same piece.
 *
 * The die also shrinks with the share of the neighbourhood this device hears first-hand: p is scaled by
 * (heard + 1) / (n + 1), `heard` being its connected peers still downloading. `n` comes from the
 * tracker's leecher count, but claims arrive only over sessions, and in a young NAT-heavy swarm most
 * sessions are still being punched: every early device saw the pieces the others were already fetching
 * as unclaimed, won its roll round after round, and the first seconds pulled each missing piece several
 * times (nat444-1k's mix at 300 devices: 72 restricted requests for about 22 missing pieces). Once a
 * device is connected to its whole neighbourhood the factor is 1.
 *
 * Every roll, won or lost, is followed by a jittered round (0.5–1.5 × `roundMs`) before the next, so
 * a device starts at most one restricted request per round, and devices that started together decide at
 * different moments and hear each other's claims (BEP 6 suggest) in between. A short start-up hold lets
 * the first peer connections form before anyone rolls, so claims are heard and n is known.
 */
export interface InfraGateOptions {
  /** After the download starts, no restricted infrastructure request for this long (0 = none). */
  holdMs: number;
  /** Mean time between two rolls of one device. */
  roundMs: number;
  /** Infrastructure requests the whole neighbourhood should start per round, in expectation. */
  roundClaims: number;
  /** Devices whose claims one device hears (its peers and one relay hop); the budget shrinks beyond it. */
  claimHorizon: number;
}

export interface InfraGateView {
  /** Pieces we miss that no connected peer has, is fetching (suggest) or that we are fetching. */
  unclaimed: number;
  /** Other devices still downloading around us (connected, or the tracker's leecher count). */
  neighbours: number;
  /** No peer connected and none known to the tracker: nothing to wait for. */
  alone: boolean;
  /** Connected peers still downloading: the part of the neighbourhood whose claims we hear first-hand. */
  heard: number;
}

export interface InfraGate {
  /** (Re)starts the hold, e.g. when the download starts or resumes. */
  start(): void;
  /** True when this device may start one restricted infrastructure request now. */
  open(view: () => InfraGateView): boolean;
  close(): void;
}

export function createInfraGate(
  options: InfraGateOptions,
  components: { clock: Clock; random: Random; wake: () => void },
): InfraGate {
  const { clock, random } = components;
  let holdUntil = 0;
  let rollAt = 0;
  let timer: TimerHandle | undefined;

  const wakeAt = (at: number): void => {
    if (timer) clock.clearTimer(timer);
    timer = clock.setTimer(Math.max(1, at - clock.now()), () => {
      timer = undefined;
      components.wake();
    });
  };

  return {
    start() {
      holdUntil = clock.now() + options.holdMs;
      rollAt = 0;
    },
    open(view) {
      const now = clock.now();
      if (now < rollAt) return false;
      const v = view();
      if (v.alone) return true;
      if (now < holdUntil) {
        rollAt = holdUntil;
        wakeAt(holdUntil);
        return false;
      }
      if (v.unclaimed === 0) return false;
      const crowd = v.neighbours + 1;
      const budget = options.roundClaims * Math.min(1, options.claimHorizon / crowd);
      const hearing = Math.min(1, (v.heard + 1) / crowd);
      const p = Math.min(1, (hearing * Math.min(v.unclaimed, budget)) / crowd);
      // random.int, not random.float: integer draws are exact and supported by every Random.
      const won = random.int(1_000_000) < p * 1_000_000;
      // Won or lost, the next roll waits a round: a device rolls once per round. Letting a winner roll
      // again as soon as its request landed made every device of a small neighbourhood (where p
      // reaches 1) pull one piece after another as fast as a fast CDN answered — most of a copy each
      // before its first peer sessions were up to hear the claims.
      rollAt = now + options.roundMs * (0.5 + random.int(1000) / 1000);
      wakeAt(rollAt);
      return won;
    },
    close() {
      if (timer) clock.clearTimer(timer);
      timer = undefined;
    },
  };
}
