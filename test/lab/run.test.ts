import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReportHtml } from '../../lab/report/html.ts';
import type { LabResults } from '../../lab/report/results.ts';
import { runLab } from '../../lab/run/index.ts';
import { loadScenario } from '../../lab/scenario/load.ts';

// The CI scenario: 8 devices in 2 ISPs (NAT44, NAT444, symmetric, public), an edge, a CDN, 2 MiB.
const scenario = loadScenario('ci-small');
const CHROMIUM = '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'sl-labrun-'));
let first: LabResults;

beforeAll(async () => {
  first = await runLab(scenario);
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lab run (ci-small, real components in virtual time)', () => {
  it('every device of every strategy completes', () => {
    for (const s of Object.values(first.strategies)) expect(s.completed).toBe(first.devices);
  });

  it('client-server takes exactly one copy per device from the CDN', () => {
    const cs = first.strategies['client-server'];
    expect(cs.bytesBySource.cdn).toBe(first.devices * first.releaseBytes);
    expect(cs.peerBytes).toBe(0);
    // The CDN's own billing adds only the signed documents on top of the copies.
    expect(cs.cdnBytes).toBeGreaterThanOrEqual(first.devices * first.releaseBytes);
    expect(cs.cdnBytes).toBeLessThan(first.devices * first.releaseBytes * 1.01);
    expect(cs.savedVsClientServer).toBe(0);
  });

  it('peers carry bytes in the peer-assisted strategies and the accounting adds up', () => {
    for (const name of ['swarmlane', 'plain-bittorrent'] as const) {
      const s = first.strategies[name];
      expect(s.peerBytes).toBeGreaterThan(0);
      const received = Object.values(s.bytesBySource).reduce((a, b) => a + b, 0);
      // Every device received at least the release (duplicates in endgame may add a little).
      expect(received).toBeGreaterThanOrEqual(first.devices * first.releaseBytes);
      expect(s.infraBytes).toBe(s.cdnBytes + s.edgeBytes);
      expect(s.savedVsClientServer).toBeCloseTo(
        1 - s.infraBytes / first.strategies['client-server'].infraBytes,
        10,
      );
    }
    expect(first.strategies['plain-bittorrent'].edgeBytes).toBe(0);
  });

  it('the same seed gives an identical results.json (also with strategies in child processes); another seed does not', async () => {
    const again = await runLab(scenario, { workers: 2 });
    expect(JSON.stringify(again)).toBe(JSON.stringify(first));
    const other = await runLab({ ...scenario, seed: scenario.seed + 1 });
    expect(JSON.stringify(other)).not.toBe(JSON.stringify(first));
  }, 300_000);

  it.skipIf(!existsSync(CHROMIUM))(
    'the report of a real run renders with every chart non-empty',
    async () => {
      const file = join(dir, 'report.html');
      writeFileSync(file, await renderReportHtml(first));
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
      });
      try {
        const page = await browser.newPage();
        await page.goto(`file://${file}`);
        const marks = await page.$$eval('figure.chart svg', (svgs) =>
          svgs.map((svg) => svg.querySelectorAll('path, rect, text').length),
        );
        expect(marks).toHaveLength(4);
        for (const n of marks) expect(n).toBeGreaterThan(5);
      } finally {
        await browser.close();
      }
    },
  );
});
