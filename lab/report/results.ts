/** What a lab run reports, per strategy. Every figure comes from byte counters of running components. */

export const STRATEGIES = ['swarmlane', 'client-server', 'plain-bittorrent'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export interface CompletionStats {
  /** Simulated seconds from a device's arrival to its verified download. */
  p50: number;
  p95: number;
  max: number;
}

/** The `to` class of datagrams a device sent to an address no device held (a NAT port nothing maps). */
export const UNRESOLVED_PEER = 'no device at address';

export interface ConnectionCell {
  from: string;
  to: string;
  attempted: number;
  succeeded: number;
  /**
   * How the successful ones connected (see lab/sim/contacts.ts): lan, cgn-inside, direct, hairpin,
   * mapped-upnp / mapped-nat-pmp / mapped-pcp / mapped-static, punched, cone.
   */
  how: Record<string, number>;
}

/** One NAT class's share of a run, from its devices' own counters. */
export interface ClassBreakdown {
  natClass: string;
  devices: number;
  completed: number;
  completion: CompletionStats;
  /** Edge + CDN bytes these devices took (their agents' counters). */
  infraBytes: number;
  peerBytes: number;
}

export interface StrategyResult {
  /** Bytes served by operator infrastructure: CDN + edges (edges' origin pulls counted separately). */
  infraBytes: number;
  cdnBytes: number;
  edgeBytes: number;
  /** Bytes edges pulled from the origin/CDN (not double-counted in infraBytes). */
  originBytes: number;
  peerBytes: number;
  bytesBySource: Record<string, number>;
  savedVsClientServer: number;
  completed: number;
  devices: number;
  completion: CompletionStats;
  /**
   * Share of device-to-device bytes that stayed within one ISP, counted by the simulated network
   * (UDP payload delivered between devices, wire overhead included). The nat444-1k target uses this:
   * it is the same measurement for every strategy, while the agents' own labels depend on what their
   * tracker told them (the plain baseline's tracker knows no ISPs, so its agents call every peer remote).
   */
  intraIspPeerShare: number;
  /** The same share from the agents' byte counters (`peer-same-isp` / all peer bytes), as labelled by the tracker's tiers. */
  intraIspPeerShareByAgents?: number;
  lowerBoundSeconds: number;
  peakInfraMbps: number;
  /** Infrastructure egress rate over simulated time, for the flash-crowd peak chart. */
  infraRateSeries: Array<{ t: number; mbps: number }>;
  completionTimes: number[];
  connections: ConnectionCell[];
  /** Edge + CDN bytes by why the agents went to infrastructure (agent/engine/download.ts InfraReason). */
  infraBytesByReason?: Record<string, number>;
  /** The same run split by the devices' NAT class. */
  byNatClass?: ClassBreakdown[];
}

/** The strategies a results object actually has, in the canonical order (a run may skip some). */
export function presentStrategies(results: {
  strategies: Partial<Record<StrategyName, unknown>>;
}): StrategyName[] {
  return STRATEGIES.filter((s) => results.strategies[s] !== undefined);
}

export interface LabResults {
  scenario: string;
  description: string;
  seed: number;
  releaseBytes: number;
  devices: number;
  /** All three for a full run; a run restricted to some strategies has only those. */
  strategies: Record<StrategyName, StrategyResult>;
  /** Wall-clock seconds the whole run took on this machine (not part of determinism). */
  wallSeconds?: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function completionStats(times: number[]): CompletionStats {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted.at(-1) ?? Number.NaN };
}

/**
 * Kumar & Ross fluid lower bound on the time to distribute F bytes to N devices (FACTS.md):
 * max(F/u_s, F/d_min, N·F/(u_s + Σu_i)); for client-server the peers' upload does not count.
 */
export function fluidLowerBoundSeconds(input: {
  fileBytes: number;
  serverUploadBps: number;
  deviceDownloadBps: number[];
  deviceUploadBps: number[];
  peerAssisted: boolean;
}): number {
  const bits = input.fileBytes * 8;
  const n = input.deviceDownloadBps.length;
  const dMin = Math.min(...input.deviceDownloadBps);
  const sumUp = input.peerAssisted ? input.deviceUploadBps.reduce((a, b) => a + b, 0) : 0;
  return Math.max(bits / input.serverUploadBps, bits / dMin, (n * bits) / (input.serverUploadBps + sumUp));
}

/** Bins (time, bytes) samples into a rate series and returns it with its peak. */
export function rateSeries(
  samples: Array<{ t: number; bytes: number }>,
  binSeconds: number,
): { series: Array<{ t: number; mbps: number }>; peakMbps: number } {
  const bins = new Map<number, number>();
  for (const s of samples) {
    const bin = Math.floor(s.t / binSeconds);
    bins.set(bin, (bins.get(bin) ?? 0) + s.bytes);
  }
  const last = Math.max(0, ...bins.keys());
  const series: Array<{ t: number; mbps: number }> = [];
  let peakMbps = 0;
  for (let bin = 0; bin <= last; bin++) {
    const mbps = ((bins.get(bin) ?? 0) * 8) / binSeconds / 1e6;
    peakMbps = Math.max(peakMbps, mbps);
    series.push({ t: bin * binSeconds, mbps });
  }
  return { series, peakMbps };
}
