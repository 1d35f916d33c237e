import type { LabResults, StrategyResult } from '../../lab/report/results.ts';
import { completionStats, rateSeries } from '../../lab/report/results.ts';

/** A small, internally consistent results object for renderer tests (the renderer, not the lab, is under test). */
export function fixtureResults(): LabResults {
  const release = 4_000_000;
  const strategy = (infraCopies: number, times: number[]): StrategyResult => {
    const infra = infraCopies * release;
    const peer = 8 * release - infra;
    const { series, peakMbps } = rateSeries(
      times.map((t) => ({ t, bytes: infra / times.length })),
      5,
    );
    return {
      infraBytes: infra,
      cdnBytes: infra,
      edgeBytes: 0,
      originBytes: 0,
      peerBytes: peer,
      bytesBySource: { cdn: infra, 'peer-same-isp': peer },
      savedVsClientServer: 1 - infraCopies / 8,
      completed: times.length,
      devices: 8,
      completion: completionStats(times),
      intraIspPeerShare: 0.9,
      intraIspPeerShareByAgents: 0.9,
      lowerBoundSeconds: 10,
      peakInfraMbps: peakMbps,
      infraRateSeries: series,
      completionTimes: times,
      connections: [
        { from: 'public', to: 'port-restricted', attempted: 4, succeeded: 3, how: { punched: 3 } },
      ],
    };
  };
  return {
    scenario: 'fixture',
    description: 'renderer fixture',
    seed: 1,
    releaseBytes: release,
    devices: 8,
    strategies: {
      swarmlane: strategy(1.2, [11, 12, 12, 13, 14, 15, 15, 16]),
      'client-server': strategy(8, [30, 31, 32, 33, 34, 35, 36, 37]),
      'plain-bittorrent': strategy(5, [20, 22, 23, 25, 27, 28, 30, 31]),
    },
  };
}
