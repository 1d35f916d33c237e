import { buildCharts } from './charts.ts';
import type { LabResults } from './results.ts';
import { presentStrategies as present, UNRESOLVED_PEER } from './results.ts';

const escapeHtml = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const secs = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(1)} s` : '—');

/** The rows of the summary table, shared by the HTML report and the terminal summary. */
export function summaryRows(results: LabResults): string[][] {
  const header = [
    'strategy',
    'infra copies',
    'saved vs CS',
    'peer bytes',
    'intra-ISP peer',
    'done',
    'p50',
    'p95',
    'max',
    'lower bound',
    'peak infra',
  ];
  const rows = present(results).map((name) => {
    const s = results.strategies[name];
    return [
      name,
      (s.infraBytes / results.releaseBytes).toFixed(2),
      pct(s.savedVsClientServer),
      `${(s.peerBytes / 1e6).toFixed(1)} MB`,
      pct(s.intraIspPeerShare),
      `${s.completed}/${s.devices}`,
      secs(s.completion.p50),
      secs(s.completion.p95),
      secs(s.completion.max),
      secs(s.lowerBoundSeconds),
      `${s.peakInfraMbps.toFixed(1)} Mbit/s`,
    ];
  });
  return [header, ...rows];
}

export function formatSummaryTable(results: LabResults): string {
  const rows = summaryRows(results);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** Rows of the connection matrix table: per peer-assisted strategy and NAT class pair, how pairs got through. */
export function connectionRows(results: LabResults): string[][] {
  const header = ['strategy', 'from (sent first)', 'to', 'attempted', 'connected', 'how'];
  const rows = present(results)
    .filter((name) => name !== 'client-server')
    .flatMap((name) =>
      results.strategies[name].connections.map((c) => [
        name,
        c.from,
        c.to,
        String(c.attempted),
        String(c.succeeded),
        Object.entries(c.how)
          .sort((a, b) => b[1] - a[1])
          .map(([how, n]) => `${how} ${n}`)
          .join(', '),
      ]),
    );
  return [header, ...rows];
}

function htmlTable(id: string, [header, ...rows]: string[][]): string {
  return `<table id="${id}"><thead><tr>${header!.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** One self-contained HTML file: inline CSS and SVG charts, no scripts, readable offline. */
export async function renderReportHtml(results: LabResults): Promise<string> {
  const charts = await buildCharts(results);
  const table = htmlTable('summary', summaryRows(results));
  const connections = connectionRows(results);
  const connectionSection =
    connections.length > 1
      ? `<h2>Connections by NAT class</h2>
<p class="meta">Every pair of devices that sent each other datagrams, as the simulated network counted them: attempted = pairs where one sent to the other (or, for "${escapeHtml(UNRESOLVED_PEER)}", distinct addresses no device held); connected = datagrams arrived both ways; how = how the first datagram that arrived got through (lan, direct, hairpin, mapped-upnp / -nat-pmp / -pcp / -static, punched, cone).</p>
${htmlTable('connections', connections)}`
      : '';
  const figures = charts
    .map(
      (c) =>
        `<figure class="chart" id="chart-${c.id}"><figcaption>${escapeHtml(c.title)}</figcaption>${c.svg}</figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>swarmlane lab: ${escapeHtml(results.scenario)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}figure{margin:1.5rem 0}figcaption{font-weight:600;margin-bottom:.4rem}
.meta{color:#555}
</style></head><body>
<h1>swarmlane lab: ${escapeHtml(results.scenario)}</h1>
<p class="meta">${escapeHtml(results.description)}</p>
<p class="meta">seed ${results.seed} · ${results.devices} devices · release ${results.releaseBytes.toLocaleString('en')} bytes${
    results.wallSeconds === undefined ? '' : ` · ${results.wallSeconds.toFixed(1)} s wall`
  }</p>
${table}
${figures}
${connectionSection}
</body></html>
`;
}
