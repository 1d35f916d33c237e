import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { formatSummaryTable, renderReportHtml } from '../../lab/report/html.ts';
import type { LabResults } from '../../lab/report/results.ts';
import { runLab } from '../../lab/run/index.ts';
import { BUILTIN_SCENARIOS, deviceCount, loadScenario } from '../../lab/scenario/load.ts';
import { registerLabNetnsCommand } from './lab-netns.ts';

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
    .action(async (name: string, options: { seed?: number; out: string; json?: boolean }) => {
      const scenario = loadScenario(name, options.seed === undefined ? {} : { seed: options.seed });
      const outDir = resolve(options.out.replace('<scenario>', scenario.name));
      mkdirSync(outDir, { recursive: true });
      const bar =
        process.stderr.isTTY && !options.json
          ? new cliProgress.SingleBar(
              {
                format: '{strategy} [{bar}] {value}/{total} devices done | {simSeconds}s simulated',
                hideCursor: true,
              },
              cliProgress.Presets.shades_classic,
            )
          : undefined;
      bar?.start(deviceCount(scenario), 0, { strategy: '', simSeconds: 0 });
      const started = Date.now();
      let results: LabResults;
      try {
        results = await runLab(scenario, {
          onProgress: (p) => {
            if (bar) {
              bar.setTotal(p.devices);
              bar.update(p.completed, {
                strategy: p.strategy.padEnd(16),
                simSeconds: p.simSeconds.toFixed(0),
              });
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
    });

  registerLabNetnsCommand(lab);
}
