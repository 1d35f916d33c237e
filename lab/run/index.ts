import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LabResults, STRATEGIES, type StrategyName, type StrategyResult } from '../report/results.ts';
import { deviceCount } from '../scenario/load.ts';
import type { Scenario } from '../scenario/schema.ts';
import { collectStrategy, savedVs } from './collect.ts';
import { runStrategiesInParallel } from './parallel.ts';
import { prepareLabRelease } from './release.ts';
import { runStrategy, type StrategyProgress } from './strategy.ts';

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
    // The baseline first: a serial run shows it first, and a failed baseline stops the run early.
    const order = (['client-server', 'swarmlane', 'plain-bittorrent'] as const).filter((s) => wanted.has(s));
    const results =
      (options.workers ?? 1) > 1
        ? await runStrategiesInParallel(
            scenario,
            order,
            release.files,
            workDir,
            options.workers ?? 1,
            onProgress,
          )
        : await runStrategiesHere(scenario, order, release, workDir, onProgress);
    const baseline = results.get('client-server')!.infraBytes;
    const strategies = {} as Record<StrategyName, StrategyResult>;
    for (const strategy of STRATEGIES) {
      const result = results.get(strategy);
      if (result)
        strategies[strategy] = { ...result, savedVsClientServer: savedVs(result.infraBytes, baseline) };
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

/** Runs the strategies one after another in this process. */
async function runStrategiesHere(
  scenario: Scenario,
  strategies: readonly StrategyName[],
  release: Awaited<ReturnType<typeof prepareLabRelease>>,
  workDir: string,
  onProgress: (p: StrategyProgress) => void,
): Promise<Map<StrategyName, StrategyResult>> {
  const results = new Map<StrategyName, StrategyResult>();
  for (const strategy of strategies)
    results.set(
      strategy,
      collectStrategy(scenario, await runStrategy(scenario, strategy, release, workDir, onProgress)),
    );
  return results;
}
