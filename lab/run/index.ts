import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LabResults, STRATEGIES, type StrategyName, type StrategyResult } from '../report/results.ts';
import { deviceCount } from '../scenario/load.ts';
import type { Scenario } from '../scenario/schema.ts';
import { collectStrategy, savedVs } from './collect.ts';
import { runStrategiesInParallel } from './parallel.ts';
import { prepareLabRelease } from './release.ts';
import { runStrategy, type StrategyProgress, type StrategyRun } from './strategy.ts';

export type { StrategyProgress } from './strategy.ts';

export interface RunLabOptions {
  onProgress?: (progress: StrategyProgress) => void;
  /** Scratch directory for the store and the devices' state; default a fresh temp dir, removed after. */
  workDir?: string;
  /** Run only these strategies (client-server always runs: it is the baseline of savedVsClientServer). */
  strategies?: readonly StrategyName[];
  /**
   * Run strategies in this many child processes at once (default 1: all in this process). Figures do
   * not depend on it: every strategy runs on a fresh simulation from the scenario's seed.
   */
  workers?: number;
}

/**
 * Runs a scenario with swarmlane and both baselines on the same topology and seed, each on a fresh
 * simulated network, and reports what the running components counted.
 */
export async function runLab(scenario: Scenario, options: RunLabOptions = {}): Promise<LabResults> {
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), `swarmlane-lab-${scenario.name}-`));
  const ownsWorkDir = options.workDir === undefined;
  try {
    const release = await prepareLabRelease(scenario, workDir);
    const wanted = new Set<StrategyName>(['client-server', ...(options.strategies ?? STRATEGIES)]);
    const onProgress = options.onProgress ?? (() => {});
    const strategies = {} as Record<StrategyName, StrategyResult>;
    if ((options.workers ?? 1) > 1) {
      const figures = await runStrategiesInParallel(
        scenario,
        STRATEGIES.filter((s) => wanted.has(s)),
        release.files,
        workDir,
        options.workers ?? 1,
        onProgress,
      );
      const baseline = figures.get('client-server')!.infraBytes;
      for (const strategy of STRATEGIES) {
        const f = figures.get(strategy);
        if (f) strategies[strategy] = { ...f.result, savedVsClientServer: savedVs(f.infraBytes, baseline) };
      }
    } else {
      const runs = new Map<StrategyName, StrategyRun>();
      // client-server first: the others' savings are measured against it.
      for (const strategy of ['client-server', 'swarmlane', 'plain-bittorrent'] as const) {
        if (!wanted.has(strategy)) continue;
        runs.set(strategy, await runStrategy(scenario, strategy, release, workDir, onProgress));
      }
      const clientServer = runs.get('client-server')!;
      const baseline = clientServer.cdnBytes + clientServer.edgeBytes;
      for (const strategy of STRATEGIES) {
        const run = runs.get(strategy);
        if (run) strategies[strategy] = collectStrategy(scenario, run, baseline);
      }
    }
    return {
      scenario: scenario.name,
      description: scenario.description,
      seed: scenario.seed,
      releaseBytes: scenario.release.size,
      devices: deviceCount(scenario),
      strategies,
    };
  } finally {
    if (ownsWorkDir) rmSync(workDir, { recursive: true, force: true });
  }
}
