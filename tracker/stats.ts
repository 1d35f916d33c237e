import type { ByteCounts, ReleaseStats, ReportRequest } from './api-schema.ts';
import type { SwarmStore } from './swarm-store.ts';

/**
 * Byte accounting: each report adds to counters per release, split by the reporting device's ISP and
 * region. Offload = bytes from peers / all bytes received.
 */

const FIELDS = [
  'peerSameIsp',
  'peerOtherIsp',
  'edge',
  'cdn',
  'uploaded',
  'reports',
  'installed',
  'failures',
  'completionMs',
  'completions',
] as const;
type Field = (typeof FIELDS)[number];

const groupKey = (release: string) => `stats:${release}`;

export async function recordReport(
  store: SwarmStore,
  report: ReportRequest,
  where: { isp: string | null; region: string | null },
): Promise<void> {
  const values: Record<Field, number> = {
    peerSameIsp: report.bytes.peerSameIsp,
    peerOtherIsp: report.bytes.peerOtherIsp,
    edge: report.bytes.edge,
    cdn: report.bytes.cdn,
    uploaded: report.uploaded,
    reports: 1,
    installed: report.outcome === 'installed' ? 1 : 0,
    failures: report.outcome.endsWith('failed') ? 1 : 0,
    completionMs: report.completionMs ?? 0,
    completions: report.completionMs === undefined ? 0 : 1,
  };
  const dims = ['total', `isp:${where.isp ?? 'unknown'}`, `region:${where.region ?? 'unknown'}`];
  const deltas: Record<string, number> = {};
  for (const dim of dims) for (const f of FIELDS) if (values[f] !== 0) deltas[`${dim}|${f}`] = values[f];
  await store.addCounters(groupKey(report.release), deltas);
}

function toCounts(raw: Partial<Record<Field, number>>): ByteCounts {
  const get = (f: Field) => raw[f] ?? 0;
  const peer = get('peerSameIsp') + get('peerOtherIsp');
  const total = peer + get('edge') + get('cdn');
  return {
    peerSameIsp: get('peerSameIsp'),
    peerOtherIsp: get('peerOtherIsp'),
    edge: get('edge'),
    cdn: get('cdn'),
    uploaded: get('uploaded'),
    total,
    offloadPercent: total === 0 ? 0 : (100 * peer) / total,
    reports: get('reports'),
    installed: get('installed'),
    failures: get('failures'),
    meanCompletionMs: get('completions') === 0 ? null : get('completionMs') / get('completions'),
  };
}

export async function releaseStats(store: SwarmStore, releaseId: string): Promise<ReleaseStats> {
  const counters = await store.getCounters(groupKey(releaseId));
  const dims = new Map<string, Partial<Record<Field, number>>>();
  for (const [key, value] of Object.entries(counters)) {
    const bar = key.lastIndexOf('|');
    const dim = key.slice(0, bar);
    const field = key.slice(bar + 1) as Field;
    const entry = dims.get(dim) ?? {};
    entry[field] = value;
    dims.set(dim, entry);
  }
  const byIsp: Record<string, ByteCounts> = {};
  const byRegion: Record<string, ByteCounts> = {};
  for (const [dim, raw] of dims) {
    if (dim.startsWith('isp:')) byIsp[dim.slice(4)] = toCounts(raw);
    else if (dim.startsWith('region:')) byRegion[dim.slice(7)] = toCounts(raw);
  }
  return { release: releaseId, total: toCounts(dims.get('total') ?? {}), byIsp, byRegion };
}
