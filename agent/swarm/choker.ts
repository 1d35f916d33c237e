import type { Clock, Random, TimerHandle } from '../../runtime/index.ts';
import type { PeerConnection } from './peer.ts';

export interface ChokerOptions {
  /** Peers unchoked at once, one of them the optimistic slot. */
  slots: number;
  /** Regular re-evaluation period (BitTorrent: 10 s; see DEFAULT_CHOKER_OPTIONS). */
  intervalMs: number;
  /** Optimistic unchoke rotation (BitTorrent: 30 s, three rounds). */
  optimisticMs: number;
  /** Regular slots that go to the interested peers holding the fewest pieces instead of the best givers. */
  neediestSlots: number;
}

/**
 * Rounds of 2 s, not BitTorrent's 10 s: an update download lasts seconds to minutes, and in a flash
 * crowd the first round's unchokes (first come, first served) would otherwise hold for most of it —
 * in a 50-device crowd of 10-s downloads some devices stayed unchoked by 15 peers and others by one
 * until the end. Short rounds let tit-for-tat reciprocate while it still matters.
 */
export const DEFAULT_CHOKER_OPTIONS: ChokerOptions = {
  slots: 4,
  intervalMs: 2_000,
  optimisticMs: 6_000,
  neediestSlots: 2,
};

/**
 * Tit-for-tat: while downloading, unchoke the interested peers that give us the most; while seeding,
 * those we upload to fastest (spreads pieces quickest) — except `neediestSlots` of the regular slots,
 * which go to the interested peers holding the fewest pieces. One extra slot rotates (optimistic unchoke) to
 * the waiting peer with the fewest pieces, so newcomers with nothing to trade get their first pieces. A newly interested peer takes a
 * free slot at once instead of waiting for the next round.
 */
export function createChoker(
  options: ChokerOptions,
  components: {
    clock: Clock;
    random: Random;
    peers: () => Iterable<PeerConnection>;
    seeding: () => boolean;
    uploadAllowed: () => boolean;
  },
): { start(): void; stop(): void; rechoke(): void; onInterest(): void } {
  const { clock, random } = components;
  let timer: TimerHandle | undefined;
  let optimistic: string | undefined;
  let lastOptimisticAt = Number.NEGATIVE_INFINITY;

  /**
   * The optimistic slot goes to the waiting peer that holds the fewest pieces (ties at random): a
   * newcomer with nothing to trade, as in BitTorrent, and otherwise whoever the swarm has served
   * least. Uniformly random, every uploader's spare slot landed anywhere, and in a crowd the devices
   * that were unchoked least stayed last: a tail behind everyone else's completion.
   */
  const neediest = (candidates: PeerConnection[]): PeerConnection | undefined => {
    let best: PeerConnection | undefined;
    let fewest = Number.POSITIVE_INFINITY;
    let ties = 0;
    for (const p of candidates) {
      const held = p.peerPieceCount();
      if (held < fewest) {
        fewest = held;
        best = p;
        ties = 1;
      } else if (held === fewest && random.int(++ties) === 0) best = p;
    }
    return best;
  };

  /**
   * The `count` peers holding the fewest pieces (ties at random), local ones first. Reciprocation alone
   * leaves who gets served to chance: in a 50-device crowd of equal links, devices unchoked by 5 peers
   * downloaded at half the rate of those unchoked by 14 and finished 2.6 s later. Giving a few slots to
   * whoever is furthest behind pulls the laggards up — the crowd is done when its last device is.
   */
  const fewestPieces = (peers: PeerConnection[], count: number): PeerConnection[] => {
    if (count <= 0) return [];
    const keyed = peers.map((p) => ({ p, held: p.peerPieceCount(), tie: random.int(1 << 30) }));
    keyed.sort((a, b) => remote(a.p) - remote(b.p) || a.held - b.held || a.tie - b.tie);
    return keyed.slice(0, count).map((k) => k.p);
  };

  /** 0 for a peer in our ISP (the tracker's locality tiers), 1 for one elsewhere. */
  const remote = (p: PeerConnection): number => (p.sourceClass === 'peer-same-isp' ? 0 : 1);

  const rechoke = (): void => {
    const peers = [...components.peers()];
    if (!components.uploadAllowed()) {
      for (const p of peers) p.setChoking(true);
      return;
    }
    const interested = peers.filter((p) => p.peerInterested());
    const score = (p: PeerConnection): number =>
      components.seeding() ? p.uploadRate.bps() : p.downloadRate.bps();
    // Peers in our own ISP first, then by score: uploads that stay inside the ISP cost it no transit,
    // which is the whole point of ISP-aware peer selection; a remote peer gets a slot only when no
    // local one wants it.
    interested.sort((a, b) => remote(a) - remote(b) || score(b) - score(a));
    const regularSlots = Math.max(0, options.slots - 1);
    // At least one regular slot always reciprocates.
    const needy = fewestPieces(interested, Math.min(options.neediestSlots, regularSlots - 1));
    const unchoke = new Set(needy.map((p) => p.id));
    for (const p of interested) {
      if (unchoke.size >= regularSlots) break;
      unchoke.add(p.id);
    }
    const now = clock.now();
    const rest = interested.filter((p) => !unchoke.has(p.id));
    if (
      optimistic === undefined ||
      now - lastOptimisticAt >= options.optimisticMs ||
      !rest.some((p) => p.id === optimistic)
    ) {
      // The neediest local peer while any waits; a remote one only when none does.
      const localRest = rest.filter((p) => remote(p) === 0);
      optimistic = neediest(localRest.length > 0 ? localRest : rest)?.id;
      lastOptimisticAt = now;
    }
    if (optimistic) unchoke.add(optimistic);
    for (const p of peers) p.setChoking(!unchoke.has(p.id));
  };

  const tick = (): void => {
    rechoke();
    timer = clock.setTimer(options.intervalMs, tick);
  };

  return {
    start() {
      if (!timer) tick();
    },
    stop() {
      if (timer) clock.clearTimer(timer);
      timer = undefined;
    },
    rechoke,
    onInterest() {
      if (!components.uploadAllowed()) return;
      const peers = [...components.peers()];
      // A peer that lost interest (it completed, or we have nothing it lacks) gives its slot to a
      // waiting peer now: an idle slot until the next round is upload capacity thrown away.
      for (const p of peers) if (!p.peerInterested() && !p.choking()) p.setChoking(true);
      let unchoked = peers.filter((p) => !p.choking()).length;
      // Free slots go to waiting peers at random, not in connection order: the first peers to connect
      // must not collect every slot that frees up.
      // Local peers first (as in rechoke).
      const waiting = peers.filter((p) => p.peerInterested() && p.choking());
      const local = waiting.filter((p) => remote(p) === 0);
      const elsewhere = waiting.filter((p) => remote(p) === 1);
      for (const group of [local, elsewhere])
        while (unchoked < options.slots && group.length > 0) {
          const [p] = group.splice(random.int(group.length), 1);
          p!.setChoking(false);
          unchoked++;
        }
    },
  };
}
