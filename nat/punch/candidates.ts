import { type Static, Type } from '@sinclair/typebox';
import { type Address, formatAddress } from '../../runtime/index.ts';

/**
 * A transport address a peer may be reached at. The tracker's rendezvous relays these as JSON.
 * host: LAN interface address; srflx: STUN reflexive; mapped: UPnP/NAT-PMP/PCP external; prflx: learned
 * from a punch message that arrived from an address we had not been told about.
 */
export const PunchCandidate = Type.Object({
  type: Type.Union([
    Type.Literal('host'),
    Type.Literal('srflx'),
    Type.Literal('mapped'),
    Type.Literal('prflx'),
  ]),
  host: Type.String({ maxLength: 64 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
});
export type PunchCandidate = Static<typeof PunchCandidate>;

export const PunchCandidates = Type.Array(PunchCandidate, { maxItems: 16 });

/** Builds our candidate list from what the probe learned. Mapped first: it needs no punching at all. */
export function gatherCandidates(input: {
  lan: Address[];
  reflexive?: Address | null;
  mapped?: Address | null;
}): PunchCandidate[] {
  const out: PunchCandidate[] = [];
  const add = (type: PunchCandidate['type'], a: Address | null | undefined): void => {
    if (!a || a.port === 0 || a.host === '0.0.0.0') return;
    if (out.some((c) => c.host === a.host && c.port === a.port)) return;
    out.push({ type, host: a.host, port: a.port });
  };
  add('mapped', input.mapped);
  add('srflx', input.reflexive);
  for (const a of input.lan) add('host', a);
  return out.slice(0, 16);
}

/** A peer's candidates from its reachability report (what the tracker relays for it). */
export function candidatesFromReport(report: {
  reflexive: Address | null;
  portMapping: { external: Address; reachable: boolean } | null;
  lan: Address[];
}): PunchCandidate[] {
  return gatherCandidates({
    lan: report.lan,
    reflexive: report.reflexive,
    mapped: report.portMapping?.reachable ? report.portMapping.external : null,
  });
}

function publicHosts(candidates: PunchCandidate[]): Set<string> {
  return new Set(candidates.filter((c) => c.type === 'srflx' || c.type === 'mapped').map((c) => c.host));
}

/** True when both peers share a public address: same home, or same CGN. Then LAN candidates go first. */
export function sharePublicAddress(local: PunchCandidate[], remote: PunchCandidate[]): boolean {
  const mine = publicHosts(local);
  return [...publicHosts(remote)].some((h) => mine.has(h));
}

const ORDER_WAN: Record<PunchCandidate['type'], number> = { mapped: 0, srflx: 1, prflx: 2, host: 3 };
const ORDER_LAN: Record<PunchCandidate['type'], number> = { host: 0, mapped: 1, srflx: 2, prflx: 3 };

/** The remote candidates in the order we probe them, without duplicates. */
export function orderRemoteCandidates(local: PunchCandidate[], remote: PunchCandidate[]): PunchCandidate[] {
  const order = sharePublicAddress(local, remote) ? ORDER_LAN : ORDER_WAN;
  const seen = new Set<string>();
  return [...remote]
    .sort((a, b) => order[a.type] - order[b.type])
    .filter((c) => {
      const k = formatAddress(c);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
}
