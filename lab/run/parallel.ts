import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SwarmlaneError } from '../../runtime/errors.ts';
import type { StrategyName, StrategyResult } from '../report/results.ts';
import type { Scenario } from '../scenario/schema.ts';
import type { LabReleaseFiles } from './release.ts';
import type { StrategyProgress } from './strategy.ts';
import type { WorkerMessage, WorkerRequest } from './worker.ts';

export class LabWorkerError extends SwarmlaneError {
  constructor(message: string) {
    super('LAB_WORKER_FAILED', message);
  }
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const LOADER = new URL('./worker-loader.mjs', import.meta.url).href;

/**
 * Runs strategies in child processes, at most `workers` at once, heaviest first (swarmlane and plain
 * BitTorrent move every byte as simulated PZ datagrams; client-server is mostly HTTP flows). One
 * simulation is single-threaded, so on a multi-core machine this cuts the wall time of a run to about
 * its slowest strategy.
 */
export async function runStrategiesInParallel(
  scenario: Scenario,
  strategies: readonly StrategyName[],
  release: LabReleaseFiles,
  workDir: string,
  workers: number,
  onProgress: (p: StrategyProgress) => void,
): Promise<Map<StrategyName, StrategyResult>> {
  const order = [...strategies].sort((a, b) => weight(b) - weight(a));
  const results = new Map<StrategyName, StrategyResult>();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < order.length) {
      const strategy = order[next++]!;
      results.set(strategy, await runInChild({ scenario, strategy, workDir, release }, onProgress));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(workers, order.length)) }, lane));
  return results;
}

function weight(strategy: StrategyName): number {
  return strategy === 'client-server' ? 0 : 1;
}

function runInChild(
  request: WorkerRequest,
  onProgress: (p: StrategyProgress) => void,
): Promise<StrategyResult> {
  return new Promise((resolve, reject) => {
    // The TypeScript sources run through worker-loader.mjs: esbuild as in tsx, without its keepNames
    // wrappers. The child's own flags are not inherited (a test runner's would not apply to it). A
    // 64 MiB young generation: the simulation allocates per packet, and the default 16 MiB scavenges
    // four times as often (100 devices of nat444-1k: 57.0 -> 53.9 CPU s; garbage collection is
    // 12-19 % of a large run).
    const child = fork(WORKER, [], {
      execArgv: ['--import', LOADER, '--max-semi-space-size=64'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let outcome: StrategyResult | undefined;
    let failure: string | undefined;
    child.on('message', (message: WorkerMessage) => {
      if (message.kind === 'progress') onProgress(message.progress);
      else if (message.kind === 'done') outcome = message.result;
      else failure = message.message;
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (outcome) resolve(outcome);
      else
        reject(
          new LabWorkerError(
            `lab worker for ${request.strategy} failed: ${failure?.split('\n')[0] ?? `exit ${code ?? signal}`}`,
          ),
        );
    });
    child.send(request);
  });
}
