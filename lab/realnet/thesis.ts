/**
 * The thesis replay on the real kernel: its three port configurations (thesis-ideal: every phone
 * has an open port; thesis-worst: none; thesis-general: one), each run with client-server, stock
 * BitTorrent (aria2c, CDN as web seed) and swarmlane. CDN bytes come from the CDN's own report.
 */
import type { LabResults, StrategyName } from '../report/results.ts';

export const THESIS_SCENARIOS = ['thesis-ideal', 'thesis-worst', 'thesis-general'] as const;
/** Share of CDN bytes saved vs client-server that the thesis measured with stock BitTorrent (FACTS.md). */
export const THESIS_MEASURED: Record<string, number> = {
  'thesis-ideal': 0.4066,
  'thesis-worst': 0.0301,
  'thesis-general': 0.1767,
};

const ROWS: Array<[StrategyName, string]> = [
  ['client-server', 'client-server'],
  ['plain-bittorrent', 'stock BitTorrent (aria2c)'],
  ['swarmlane', 'swarmlane'],
];

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** A markdown table: one row per strategy, per configuration CDN bytes and share saved. */
export function formatThesisTable(runs: LabResults[]): string {
  const header = ['strategy', ...runs.map((r) => `${r.scenario}: CDN bytes / saved`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  for (const [key, label] of ROWS) {
    const cells = runs.map((r) => {
      const s = r.strategies[key];
      if (!s) return 'not run';
      const done = s.completed === s.devices ? '' : ` (${s.completed}/${s.devices} done)`;
      return `${mb(s.infraBytes)} / ${pct(s.savedVsClientServer)}${done}`;
    });
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  lines.push(
    `| thesis measured (BitTorrent) | ${runs.map((r) => (THESIS_MEASURED[r.scenario] === undefined ? '-' : pct(THESIS_MEASURED[r.scenario]!))).join(' | ')} |`,
  );
  return lines.join('\n');
}
