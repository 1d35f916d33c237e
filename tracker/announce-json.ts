import type { EdgeInfo } from './api-schema.ts';
import type { ReachableHow, Tier } from './locality.ts';
import type { SelectedPeer } from './selection.ts';
import type { PeerCandidate, PeerRecord } from './swarm-store.ts';

/**
 * The agent announce answer (AnnounceResponse in api-schema.ts) written as JSON text directly.
 *
 * A peer's part of an answer is the same for every requester except its tier, how to reach it, the
 * bridge flag and whether LAN candidates are shown, so the rest is serialised once per peer record
 * (records are replaced, never mutated, on every announce, so a record-keyed cache cannot go stale)
 * and answers are joined from those fragments. This keeps the hottest route from re-serialising 30
 * peers per announce. test/tracker/app.test.ts checks the text against the AnnounceResponse schema.
 */
interface PeerFragments {
  /** `{"deviceId":...,"publicKey":...,"seeder":...,"have":...,"load":...,"candidates":` */
  head: string;
  /** Candidates as the peer announced them (LAN ones included), JSON. */
  all: string;
  /** Candidates without LAN (`host`) ones, JSON: what devices behind another address see. */
  public: string;
}

const fragments = new WeakMap<PeerRecord, PeerFragments>();

function candidateJson(list: readonly PeerCandidate[]): string {
  let out = '[';
  for (let i = 0; i < list.length; i++) {
    const c = list[i] as PeerCandidate;
    if (i > 0) out += ',';
    out += `{"type":"${c.type}","host":${JSON.stringify(c.host)},"port":${c.port}}`;
  }
  return `${out}]`;
}

function fragmentsOf(peer: PeerRecord): PeerFragments {
  let f = fragments.get(peer);
  if (f === undefined) {
    const all = candidateJson(peer.candidates);
    const hasHost = peer.candidates.some((c) => c.type === 'host');
    f = {
      head: `{"deviceId":${JSON.stringify(peer.peerId)},"publicKey":${JSON.stringify(peer.publicKey ?? '')},"seeder":${peer.seeder},"have":${peer.have},"load":${peer.load},"candidates":`,
      all,
      public: hasHost ? candidateJson(peer.candidates.filter((c) => c.type !== 'host')) : all,
    };
    fragments.set(peer, f);
  }
  return f;
}

/**
 * Plain-BitTorrent presentation (random selection mode): only the address the tracker observed, as a
 * stock tracker would hand out.
 */
function observedOnly(peer: PeerRecord): string {
  return `[{"type":"srflx","host":${JSON.stringify(peer.address.host)},"port":${peer.address.port}}]`;
}

export function peerJson(s: SelectedPeer, stockView: boolean): string {
  const f = fragmentsOf(s.peer);
  const candidates = stockView ? observedOnly(s.peer) : s.how === 'lan' ? f.all : f.public;
  return `${f.head}${candidates},"tier":"${s.tier satisfies Tier}","reachableHow":"${s.how satisfies ReachableHow}","bridge":${s.bridge}}`;
}

export interface AnnounceAnswer {
  deviceToken?: string;
  interval: number;
  minInterval: number;
  peers: readonly SelectedPeer[];
  /** Present peers the stock-tracker way (random selection mode). */
  stockView: boolean;
  btPeers: ReadonlyArray<{ host: string; port: number }>;
  edges: readonly EdgeInfo[];
  cdnUrls: readonly string[];
  rarePieces: readonly number[];
  seeders: number;
  leechers: number;
  you: { publicIp: string; isp: string | null; region: string | null; asn: number | null; reach: string };
}

export function announceJson(a: AnnounceAnswer): string {
  let out = '{';
  if (a.deviceToken !== undefined) out += `"deviceToken":${JSON.stringify(a.deviceToken)},`;
  out += `"interval":${a.interval},"minInterval":${a.minInterval},"peers":[`;
  for (let i = 0; i < a.peers.length; i++) {
    if (i > 0) out += ',';
    out += peerJson(a.peers[i] as SelectedPeer, a.stockView);
  }
  out += '],"btPeers":[';
  for (let i = 0; i < a.btPeers.length; i++) {
    const p = a.btPeers[i] as { host: string; port: number };
    if (i > 0) out += ',';
    out += `{"host":${JSON.stringify(p.host)},"port":${p.port}}`;
  }
  out += `],"edges":${a.edges.length === 0 ? '[]' : JSON.stringify(a.edges)}`;
  out += `,"cdnUrls":${JSON.stringify(a.cdnUrls)},"rarePieces":[${a.rarePieces.join(',')}]`;
  out += `,"swarm":{"seeders":${a.seeders},"leechers":${a.leechers}}`;
  out += `,"you":${JSON.stringify(a.you)}}`;
  return out;
}
