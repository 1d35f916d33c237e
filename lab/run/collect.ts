import {
  type ClassBreakdown,
  type ConnectionCell,
  completionStats,
  fluidLowerBoundSeconds,
  rateSeries,
  type StrategyResult,
} from '../report/results.ts';
import type { Scenario } from '../scenario/schema.ts';
import type { StrategyRun } from './strategy.ts';

/** Width of the bins of the infrastructure egress series, virtual seconds. */
const RATE_BIN_SECONDS = 5;

/**
 * Turns one run's counters into its figures. Bytes by source come from the agents' own accounting,
 * CDN bytes from the CDN's billing report, edge bytes from the edges' counters, the egress series from
 * the simulated network's deliveries — never from a formula. `savedVsClientServer` is left at 0: the
 * caller fills it in once the client-server run's figures are known (runLab).
 */
export function collectStrategy(scenario: Scenario, run: StrategyRun): StrategyResult {
  const bytesBySource: Record<string, number> = { 'peer-same-isp': 0, 'peer-other-isp': 0, edge: 0, cdn: 0 };
  const completionTimes: number[] = [];
  const infraBytesByReason: Record<string, number> = {};
  for (const o of run.outcomes) {
    if (o.summary) {
      for (const [source, bytes] of Object.entries(o.summary.bytesBySource))
        bytesBySource[source] = (bytesBySource[source] ?? 0) + bytes;
      for (const [reason, bytes] of Object.entries(o.summary.infraBytesByReason))
        infraBytesByReason[reason] = (infraBytesByReason[reason] ?? 0) + bytes;
    }
    if (o.completionSeconds !== undefined) completionTimes.push(o.completionSeconds);
  }
  const peerBytes = (bytesBySource['peer-same-isp'] ?? 0) + (bytesBySource['peer-other-isp'] ?? 0);
  const infraBytes = run.cdnBytes + run.edgeBytes;
  const { series, peakMbps } = rateSeries(run.infraSamples, RATE_BIN_SECONDS);
  const serverUploadBps =
    scenario.cdn.capacityMbps * 1e6 +
    (run.strategy === 'swarmlane' ? scenario.edges.reduce((n, e) => n + e.capacityMbps * 1e6, 0) : 0);
  const devices = run.topology.devices;
  return {
    infraBytes,
    cdnBytes: run.cdnBytes,
    edgeBytes: run.edgeBytes,
    originBytes: run.originBytes,
    peerBytes,
    bytesBySource,
    savedVsClientServer: 0,
    completed: completionTimes.length,
    devices: devices.length,
    completion: completionStats(completionTimes),
    intraIspPeerShare:
      run.peerWire.sameIsp + run.peerWire.otherIsp > 0
        ? run.peerWire.sameIsp / (run.peerWire.sameIsp + run.peerWire.otherIsp)
        : 0,
    intraIspPeerShareByAgents: peerBytes > 0 ? (bytesBySource['peer-same-isp'] ?? 0) / peerBytes : 0,
    lowerBoundSeconds: fluidLowerBoundSeconds({
      fileBytes: scenario.release.size,
      serverUploadBps,
      deviceDownloadBps: devices.map((d) => d.downBps),
      deviceUploadBps: devices.map((d) => d.upBps),
      peerAssisted: run.strategy !== 'client-server',
    }),
    peakInfraMbps: peakMbps,
    infraRateSeries: series,
    completionTimes,
    connections: connectionMatrix(run),
    infraBytesByReason,
    byNatClass: breakdownByNatClass(run),
  };
}

/**
 * Per NAT class of the device: who finished when and who paid infrastructure for what. Aggregates hide
 * the class that drives the tail (a lossy mobile CGN group) behind the classes that do well.
 */
function breakdownByNatClass(run: StrategyRun): ClassBreakdown[] {
  const groups = new Map<string, { devices: number; times: number[]; infra: number; peer: number }>();
  for (const o of run.outcomes) {
    const key = o.device.natClass;
    let g = groups.get(key);
    if (!g) {
      g = { devices: 0, times: [], infra: 0, peer: 0 };
      groups.set(key, g);
    }
    g.devices++;
    if (o.completionSeconds !== undefined) g.times.push(o.completionSeconds);
    const by = o.summary?.bytesBySource;
    if (by) {
      g.infra += by.edge + by.cdn;
      g.peer += by['peer-same-isp'] + by['peer-other-isp'];
    }
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([natClass, g]) => ({
      natClass,
      devices: g.devices,
      completed: g.times.length,
      completion: completionStats(g.times),
      infraBytes: g.infra,
      peerBytes: g.peer,
    }));
}

/** Device pairs by the NAT classes of both ends, from the simulated network's contact table. */
function connectionMatrix(run: StrategyRun): ConnectionCell[] {
  const cells = new Map<string, ConnectionCell>();
  for (const record of run.connections) {
    const key = `${record.from}>${record.to}`;
    let cell = cells.get(key);
    if (!cell) {
      cell = { from: record.from, to: record.to, attempted: 0, succeeded: 0, how: {} };
      cells.set(key, cell);
    }
    cell.attempted++;
    if (record.how) {
      cell.succeeded++;
      cell.how[record.how] = (cell.how[record.how] ?? 0) + 1;
    }
  }
  return [...cells.values()].sort((a, b) => (a.from + a.to).localeCompare(b.from + b.to));
}

/** Share of the client-server baseline's infrastructure bytes a strategy did not need. */
export function savedVs(infraBytes: number, clientServerInfraBytes: number): number {
  return clientServerInfraBytes > 0 ? 1 - infraBytes / clientServerInfraBytes : 0;
}
