import type { EdgeInfo } from './api-schema.ts';
import { type ReachableHow, TIERS, type Tier } from './locality.ts';
import type { SelectedPeer } from './selection.ts';
import type { PeerCandidate, PeerRecord } from './swarm-store.ts';

/**
 * The agent announce answer (AnnounceResponse in api-schema.ts) written as JSON text directly.
 *
 * A peer's part of an answer is the same for every requester except its tier, how to reach it, the
 * bridge flag and whether LAN candidates are shown, so the rest is serialised once per peer record
 * and answers are joined from those fragments. This keeps the hottest route from re-serialising 30
 * peers per announce. test/tracker/app.test.ts checks the text against the AnnounceResponse schema.
 */
/**
 * A new sequential string with the same text: concatenations are ropes that `join` walks piece by
 * piece on every answer, and flattening one in place keeps its wrapper and pieces alive.
 */
function flat(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

const HOWS: readonly ReachableHow[] = ['lan', 'direct', 'reverse', 'punch'];

function candidateJson(list: readonly PeerCandidate[]): string {
  let out = '[';
  for (let i = 0; i < list.length; i++) {
    const c = list[i] as PeerCandidate;
    if (i > 0) out += ',';
    out += `{"type":"${c.type}","host":${JSON.stringify(c.host)},"port":${c.port}}`;
  }
  return `${out}]`;
}

const headOf = (peer: PeerRecord) =>
  `{"deviceId":${JSON.stringify(peer.peerId)},"publicKey":${JSON.stringify(peer.publicKey ?? '')},"candidates":`;

const SEEDER = [',"seeder":false,"have":', ',"seeder":true,"have":'] as const;

/** `,"seeder":...,"have":...,"load":...`: the counters of a peer's part of an answer. */
const countersOf = (peer: PeerRecord) => `${SEEDER[peer.seeder ? 1 : 0]}${peer.have},"load":${peer.load}`;

/**
 * A peer's part of an answer up to its tier: `{"deviceId":...,"candidates":[...],"seeder":...}`
 * without LAN candidates, what devices elsewhere are shown. Built once per announce of that peer;
 * the store keeps the stored copy when the new one is equal (a re-announce that changes nothing).
 */
function buildFragment(peer: PeerRecord): string {
  const hasHost = peer.candidates.some((c) => c.type === 'host');
  return flat(
    headOf(peer) +
      candidateJson(hasHost ? peer.candidates.filter((c) => c.type !== 'host') : peer.candidates) +
      countersOf(peer),
  );
}

/**
 * Serialises a record's fragment now: the announce route calls it for the record it stores, so the
 * work (number formatting included) is paid once per announce of that peer instead of by every
 * answer that hands it out.
 */
export function prepareAnswerFragments(peer: PeerRecord): void {
  peer.answerFragment = buildFragment(peer);
}

/**
 * Plain-BitTorrent presentation (random selection mode): only the address the tracker observed, as a
 * stock tracker would hand out.
 */
function observedOnly(peer: PeerRecord): string {
  return `[{"type":"srflx","host":${JSON.stringify(peer.address.host)},"port":${peer.address.port}}]`;
}

/** Appends a peer's JSON to `out` (pieces are joined once at the end: one flat string, no rope). */
function pushPeer(out: string[], s: SelectedPeer, stockView: boolean): void {
  const peer = s.peer;
  const tail = TAIL[s.tier][s.how][s.bridge ? 1 : 0];
  if (stockView) out.push(headOf(peer), observedOnly(peer), countersOf(peer), tail);
  // LAN answers are rare (same public address): their fragment is built when needed.
  else if (s.how === 'lan') out.push(headOf(peer), candidateJson(peer.candidates), countersOf(peer), tail);
  else out.push(peer.answerFragment ?? buildFragment(peer), tail);
}

/** `,"tier":...,"reachableHow":...,"bridge":...}` for every combination, built once. */
const TAIL = Object.fromEntries(
  TIERS.map((tier) => [
    tier,
    Object.fromEntries(
      HOWS.map((how) => [
        how,
        [false, true].map((bridge) => `,"tier":"${tier}","reachableHow":"${how}","bridge":${bridge}}`),
      ]),
    ),
  ]),
) as unknown as Record<Tier, Record<ReachableHow, readonly [string, string]>>;

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
  const out: string[] = [];
  if (a.deviceToken !== undefined) out.push(`{"deviceToken":${JSON.stringify(a.deviceToken)},"interval":`);
  else out.push('{"interval":');
  out.push(`${a.interval},"minInterval":${a.minInterval},"peers":[`);
  for (let i = 0; i < a.peers.length; i++) {
    if (i > 0) out.push(',');
    pushPeer(out, a.peers[i] as SelectedPeer, a.stockView);
  }
  out.push('],"btPeers":[');
  for (let i = 0; i < a.btPeers.length; i++) {
    const p = a.btPeers[i] as { host: string; port: number };
    out.push(`${i > 0 ? ',' : ''}{"host":${JSON.stringify(p.host)},"port":${p.port}}`);
  }
  out.push(
    `],"edges":${a.edges.length === 0 ? '[]' : JSON.stringify(a.edges)}`,
    `,"cdnUrls":${JSON.stringify(a.cdnUrls)},"rarePieces":[${a.rarePieces.join(',')}]`,
    `,"swarm":{"seeders":${a.seeders},"leechers":${a.leechers}}`,
    `,"you":${JSON.stringify(a.you)}}`,
  );
  return out.join('');
}
