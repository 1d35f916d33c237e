import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/** One measured number with its unit. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
}

/** A target, stated as a comparison so the JSON says both what was wanted and what happened. */
export interface Target {
  name: string;
  /** Human-readable target, e.g. ">= 0.6 x sha256sum". */
  target: string;
  actual: number;
  unit: string;
  met: boolean;
}

export interface BenchReport {
  name: string;
  baseline: Record<string, Figure>;
  figures: Figure[];
  targets: Target[];
  notes?: string[];
}

/**
 * Prints the report as a table and writes bench/results/NAME.json. Every benchmark ends with this, so
 * results share one shape: figures with units, the baseline measured in the same run, each target and
 * whether it was met.
 */
export function writeBenchReport(report: BenchReport): string {
  const rows: string[][] = [['kind', 'name', 'value', 'unit', 'target', 'met']];
  for (const [key, f] of Object.entries(report.baseline))
    rows.push(['baseline', `${key}: ${f.name}`, fmt(f.value), f.unit, '', '']);
  for (const f of report.figures) rows.push(['figure', f.name, fmt(f.value), f.unit, '', '']);
  for (const t of report.targets)
    rows.push(['target', t.name, fmt(t.actual), t.unit, t.target, t.met ? 'yes' : 'NO']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${report.name}`);
  console.log(line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
  for (const n of report.notes ?? []) console.log(`note: ${n}`);

  const dir = join(import.meta.dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${report.name}.json`);
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    node: process.version,
  };
  writeFileSync(
    path,
    `${JSON.stringify({ ...report, date: new Date().toISOString(), machine, allTargetsMet: report.targets.every((t) => t.met) }, null, 2)}\n`,
  );
  console.log(`wrote ${path}`);
  return path;
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(4);
}
