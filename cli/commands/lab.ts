import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { formatSummaryTable, renderReportHtml } from '../../lab/report/html.ts';
import { type LabResults, STRATEGIES, type StrategyName } from '../../lab/report/results.ts';
import { runLab } from '../../lab/run/index.ts';
import { BUILTIN_SCENARIOS, deviceCount, loadScenario } from '../../lab/scenario/load.ts';
import { registerLabNetnsCommand } from './lab-netns.ts';

function parseWorkers(value: string): number {
  if (!/^\d{1,2}$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('must be an integer >= 1');
  return Number(value);
}

/** Strategies run side by side in child processes, one per core (there are three strategies). */
const DEFAULT_WORKERS = Math.min(3, availableParallelism());

/** Comma-separated strategy names; client-server always runs (it is what savings are measured against). */
function parseStrategies(value: string): StrategyName[] {
  const names = value.split(',').map((n) => n.trim());
  for (const name of names)
    if (!(STRATEGIES as readonly string[]).includes(name))
      throw new InvalidArgumentError(`unknown strategy "${name}" (one of ${STRATEGIES.join(', ')})`);
  return names as StrategyName[];
}

function parseSeed(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command('lab')
    .description('run lab experiments: whole fleets on a simulated network in virtual time');

  lab
    .command('list')
    .description('list the built-in scenarios')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => {
      const rows = BUILTIN_SCENARIOS.map((name) => {
        const s = loadScenario(name);
        return { name, devices: deviceCount(s), releaseBytes: s.release.size, description: s.description };
      });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      const width = Math.max(...rows.map((r) => r.name.length));
      for (const r of rows) {
        process.stdout.write(
          `${r.name.padEnd(width)}  ${String(r.devices).padStart(5)} devices  ${r.description}\n`,
        );
      }
    });

  lab
    .command('run')
    .description(
      'run a scenario (built-in name or YAML file) with swarmlane and the baselines, and write a report',
    )
    .argument('<scenario>', 'built-in scenario name (see `swarmlane lab list`) or path to a YAML file')
    .option('--seed <n>', 'override the scenario seed', parseSeed)
    .option('--out <dir>', 'directory for results.json and report.html', '.lab-runs/<scenario>')
    .option('--json', 'print results.json to stdout instead of the summary')
    .option(
      '--workers <n>',
      'strategies run at once, each in its own process (figures do not depend on it)',
      parseWorkers,
      DEFAULT_WORKERS,
    )
    .option(
      '--strategies <list>',
      'comma-separated strategies to run (client-server always runs: savings are measured against it)',
      parseStrategies,
    )
    .action(
      async (
        name: string,
        options: { seed?: number; out: string; json?: boolean; workers: number; strategies?: StrategyName[] },
      ) => {
        const scenario = loadScenario(name, options.seed === undefined ? {} : { seed: options.seed });
        const outDir = resolve(options.out.replace('<scenario>', scenario.name));
        mkdirSync(outDir, { recursive: true });
        const bar =
          process.stderr.isTTY && !options.json
            ? new cliProgress.SingleBar(
                {
                  format: '{strategy} [{bar}] {value}/{total} device runs done | {simSeconds}s simulated',
                  hideCursor: true,
                },
                cliProgress.Presets.shades_classic,
              )
            : undefined;
        // One bar over all strategies' devices: with --workers > 1 they progress side by side.
        const strategyCount = new Set(['client-server', ...(options.strategies ?? STRATEGIES)]).size;
        bar?.start(deviceCount(scenario) * strategyCount, 0, { strategy: '', simSeconds: 0 });
        const done = new Map<string, number>();
        const started = Date.now();
        let results: LabResults;
        try {
          results = await runLab(scenario, {
            workers: options.workers,
            ...(options.strategies ? { strategies: options.strategies } : {}),
            onProgress: (p) => {
              if (bar) {
                done.set(p.strategy, p.completed);
                bar.update(
                  [...done.values()].reduce((a, b) => a + b, 0),
                  { strategy: p.strategy.padEnd(16), simSeconds: p.simSeconds.toFixed(0) },
                );
              }
            },
          });
        } finally {
          bar?.stop();
        }
        results.wallSeconds = (Date.now() - started) / 1000;
        const resultsPath = join(outDir, 'results.json');
        const reportPath = join(outDir, 'report.html');
        writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
        writeFileSync(reportPath, await renderReportHtml(results));
        if (options.json) {
          process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
          return;
        }
        process.stdout.write(
          `${scenario.name}: ${results.devices} devices, release ${results.releaseBytes.toLocaleString('en')} bytes, seed ${results.seed}, ${results.wallSeconds.toFixed(1)} s wall\n\n`,
        );
        process.stdout.write(`${formatSummaryTable(results)}\n\n`);
        process.stdout.write(`results: ${resultsPath}\nreport:  ${reportPath}\n`);
      },
    );

  registerLabNetnsCommand(lab);
}
