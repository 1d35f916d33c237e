import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { RealnetResults } from '../../lab/realnet/index.ts';
import { formatSummaryTable, renderReportHtml } from '../../lab/report/html.ts';
import { STRATEGIES, type StrategyName } from '../../lab/report/results.ts';
import { loadScenario } from '../../lab/scenario/load.ts';

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function parseStrategies(value: string): StrategyName[] {
  const names = value.split(',').map((s) => s.trim());
  for (const n of names)
    if (!(STRATEGIES as readonly string[]).includes(n))
      throw new InvalidArgumentError(`unknown strategy "${n}" (${STRATEGIES.join(', ')})`);
  return names as StrategyName[];
}

/** One line per strategy that ran (the shared table needs all three). */
function briefSummary(results: RealnetResults): string {
  return Object.entries(results.strategies)
    .map(
      ([name, s]) =>
        `${name.padEnd(17)} infra ${(s.infraBytes / results.releaseBytes).toFixed(2)} copies, saved ${(100 * s.savedVsClientServer).toFixed(1)} %, peer ${(s.peerBytes / 1e6).toFixed(1)} MB, done ${s.completed}/${s.devices}, p50 ${s.completion.p50.toFixed(1)} s`,
    )
    .join('\n');
}

/** `swarmlane lab netns`: registered on the `lab` command by cli/commands/lab.ts. */
export function registerLabNetnsCommand(lab: Command): void {
  lab
    .command('netns')
    .description(
      'run a scenario on the real Linux network stack (network namespaces, nftables NAT, miniupnpd, real processes); needs root',
    )
    .argument(
      '<scenario>',
      'built-in scenario name (see `swarmlane lab list`), path to a YAML file, `thesis` (the three thesis configurations and a table), or `interop` (stock aria2c trading pieces with agents over TCP)',
    )
    .option('--out <dir>', 'directory for results.json and report.html', '.lab-runs/<scenario>-netns')
    .option('--seed <n>', 'override the scenario seed', (v: string) => Math.floor(parsePositive(v)))
    .option(
      '--strategies <list>',
      `comma-separated strategies (client-server always runs: it is the baseline)`,
      parseStrategies,
    )
    .option(
      '--deadline <seconds>',
      'wall-clock limit per strategy (default: scenario deadline, at most 900)',
      parsePositive,
    )
    .option('--tcp-wire', 'agents also run the TCP BitTorrent wire for stock clients (default: PZ only)')
    .option('--keep-work', 'keep the scratch directory (store, device state, process logs) under --out/work')
    .option('--json', 'print results.json to stdout instead of the summary')
    .action(
      async (
        name: string,
        options: {
          out: string;
          seed?: number;
          strategies?: StrategyName[];
          deadline?: number;
          keepWork?: boolean;
          tcpWire?: boolean;
          json?: boolean;
        },
      ) => {
        const { runRealnetLab, runInterop, INTEROP_SCENARIO, formatThesisTable, THESIS_SCENARIOS } =
          await import('../../lab/realnet/index.ts');
        if (name === 'interop') {
          const scenario = loadScenario(
            INTEROP_SCENARIO,
            options.seed === undefined ? {} : { seed: options.seed },
          );
          const outDir = resolve(options.out.replace('<scenario>', 'interop'));
          mkdirSync(outDir, { recursive: true });
          const result = await runInterop(scenario, {
            ...(options.deadline ? { deadlineSeconds: options.deadline } : {}),
            ...(options.keepWork ? { workDir: join(outDir, 'work') } : {}),
          });
          writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
          if (options.json) {
            process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
            return;
          }
          const a = result.aria2;
          process.stdout.write(
            `interop (real kernel): aria2c ${a.exact ? 'byte-exact' : 'NOT byte-exact'} in ${a.seconds.toFixed(1)} s; ` +
              `CDN billed it ${a.cdnBytes.toLocaleString('en')} of ${result.releaseBytes.toLocaleString('en')} bytes; ` +
              `its log shows ${a.blocksFromAgents} blocks (${a.bytesFromAgents.toLocaleString('en')} bytes) from the agents\n` +
              `agents: ${result.agents.map((g) => `${g.name} ${g.exact ? 'exact' : 'NOT exact'}, uploaded ${g.uploaded.toLocaleString('en')} bytes`).join('; ')}\n` +
              `results: ${join(outDir, 'results.json')}\n`,
          );
          if (!a.exact || a.blocksFromAgents === 0) process.exitCode = 1;
          return;
        }
        if (name === 'thesis') {
          const outRoot = resolve(options.out.replace('<scenario>', 'thesis'));
          const all: RealnetResults[] = [];
          for (const scenarioName of THESIS_SCENARIOS) {
            const scenario = loadScenario(
              scenarioName,
              options.seed === undefined ? {} : { seed: options.seed },
            );
            const outDir = join(outRoot, scenarioName);
            mkdirSync(outDir, { recursive: true });
            process.stderr.write(`${scenarioName} ...\n`);
            const results = await runRealnetLab(scenario, {
              ...(options.strategies ? { strategies: options.strategies } : {}),
              ...(options.tcpWire ? { tcpWire: true } : {}),
              ...(options.deadline ? { deadlineSeconds: options.deadline } : {}),
              ...(options.keepWork ? { workDir: join(outDir, 'work') } : {}),
            });
            writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
            if (STRATEGIES.every((s) => results.strategies[s] !== undefined))
              writeFileSync(join(outDir, 'report.html'), await renderReportHtml(results));
            all.push(results);
          }
          const table = formatThesisTable(all);
          writeFileSync(join(outRoot, 'thesis.md'), `${table}\n`);
          process.stdout.write(
            options.json ? `${JSON.stringify(all, null, 2)}\n` : `${table}\n\nresults: ${outRoot}\n`,
          );
          return;
        }
        const scenario = loadScenario(name, options.seed === undefined ? {} : { seed: options.seed });
        const outDir = resolve(options.out.replace('<scenario>', scenario.name));
        mkdirSync(outDir, { recursive: true });
        const tty = process.stderr.isTTY && !options.json;
        let last = '';
        const results: RealnetResults = await runRealnetLab(scenario, {
          ...(options.strategies ? { strategies: options.strategies } : {}),
          ...(options.tcpWire ? { tcpWire: true } : {}),
          ...(options.deadline ? { deadlineSeconds: options.deadline } : {}),
          ...(options.keepWork ? { workDir: join(outDir, 'work') } : {}),
          onProgress: (p) => {
            const line = `${p.phase}: ${p.message}`;
            if (line === last) return;
            last = line;
            if (tty) process.stderr.write(`\r\x1b[K${line}`);
            else if (!options.json) process.stderr.write(`${line}\n`);
          },
        });
        if (tty) process.stderr.write('\r\x1b[K');
        const resultsPath = join(outDir, 'results.json');
        const reportPath = join(outDir, 'report.html');
        writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
        // The shared report renderer draws every strategy; with --strategies a subset has none to draw.
        const complete = STRATEGIES.every((s) => results.strategies[s] !== undefined);
        if (complete) writeFileSync(reportPath, await renderReportHtml(results));
        if (options.json) {
          process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
          return;
        }
        const exact = Object.entries(results.realnet.byteExact)
          .map(([s, e]) => `${s} ${e.exact}/${e.devices}`)
          .join(', ');
        process.stdout.write(
          `${scenario.name} (real kernel): ${results.devices} devices, release ${results.releaseBytes.toLocaleString('en')} bytes, ${results.wallSeconds?.toFixed(1)} s wall\nbyte-exact: ${exact}\n\n`,
        );
        process.stdout.write(`${complete ? formatSummaryTable(results) : briefSummary(results)}\n\n`);
        for (const note of results.realnet.notes) process.stdout.write(`note: ${note}\n`);
        process.stdout.write(
          `results: ${resultsPath}\n${complete ? `report:  ${reportPath}` : 'report:  not written (needs all three strategies)'}\n`,
        );
      },
    );
}
