/**
 * Child-process entry of a parallel lab run (see parallel.ts): runs one strategy of a scenario on its
 * own simulated network and sends back the figures. Each strategy already runs on a fresh simulation
 * with the scenario's seed, so where it runs does not change its figures.
 */
import type { StrategyName, StrategyResult } from '../report/results.ts';
import type { Scenario } from '../scenario/schema.ts';
import { collectStrategy } from './collect.ts';
import { openLabRelease } from './release.ts';
import { runStrategy, type StrategyProgress } from './strategy.ts';

export interface WorkerRequest {
  scenario: Scenario;
  strategy: StrategyName;
  workDir: string;
  release: { storeDir: string; publicPem: string; privatePem: string };
}

export type WorkerMessage =
  | { kind: 'progress'; progress: StrategyProgress }
  | { kind: 'done'; result: StrategyResult }
  | { kind: 'failed'; message: string };

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));
}

process.once('message', (request: WorkerRequest) => {
  void (async () => {
    try {
      const release = await openLabRelease(request.release);
      const run = await runStrategy(
        request.scenario,
        request.strategy,
        release,
        request.workDir,
        (progress) => {
          void send({ kind: 'progress', progress });
        },
      );
      await send({ kind: 'done', result: collectStrategy(request.scenario, run) });
      // CPU seconds per strategy predict a quiet machine's wall time better than a loaded one's clock.
      if (process.env.SWARMLANE_LAB_CPU) {
        const cpu = process.cpuUsage();
        console.error(
          `lab worker ${request.strategy}: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} CPU s, ${process.uptime().toFixed(1)} s wall`,
        );
      }
    } catch (error) {
      await send({
        kind: 'failed',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    }
    // The simulation may leave idle handles behind (servers of the run); the figures are sent.
    process.exit(0);
  })();
});
