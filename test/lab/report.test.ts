import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { formatSummaryTable, renderReportHtml } from '../../lab/report/html.ts';
import { completionStats, fluidLowerBoundSeconds, percentile, rateSeries } from '../../lab/report/results.ts';
import { fixtureResults } from './report-fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'sl-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lab report figures', () => {
  it('percentiles use nearest rank', () => {
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(completionStats([3, 1, 2])).toEqual({ p50: 2, p95: 3, max: 3 });
  });

  it('the fluid lower bound matches Kumar & Ross', () => {
    // F = 1 MB, u_s = 8 Mbit/s, 4 peers with 8 Mbit/s down and 1 Mbit/s up.
    const input = {
      fileBytes: 1e6,
      serverUploadBps: 8e6,
      deviceDownloadBps: [8e6, 8e6, 8e6, 8e6],
      deviceUploadBps: [1e6, 1e6, 1e6, 1e6],
    };
    expect(fluidLowerBoundSeconds({ ...input, peerAssisted: true })).toBeCloseTo((4 * 8e6) / 12e6);
    expect(fluidLowerBoundSeconds({ ...input, peerAssisted: false })).toBeCloseTo(4);
  });

  it('bins a rate series and finds its peak', () => {
    const { series, peakMbps } = rateSeries(
      [
        { t: 0.5, bytes: 125_000 },
        { t: 1.5, bytes: 250_000 },
      ],
      1,
    );
    expect(series).toEqual([
      { t: 0, mbps: 1 },
      { t: 1, mbps: 2 },
    ]);
    expect(peakMbps).toBe(2);
  });
});

describe('report.html', () => {
  it('prints a summary table with one row per strategy', () => {
    const table = formatSummaryTable(fixtureResults()).split('\n');
    expect(table).toHaveLength(4);
    expect(table[1]).toMatch(/^swarmlane\s+1\.20/);
  });

  it.skipIf(!existsSync(CHROMIUM))(
    'renders in headless Chromium with every chart present and non-empty',
    async () => {
      const html = await renderReportHtml(fixtureResults());
      expect(html).not.toMatch(/<script/i);
      const file = join(dir, 'report.html');
      writeFileSync(file, html);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        await page.goto(`file://${file}`);
        const charts = await page.$$eval('figure.chart', (figures) =>
          figures.map((f) => {
            const svg = f.querySelector('svg');
            const box = svg?.getBoundingClientRect();
            return {
              id: f.id,
              marks: svg?.querySelectorAll('path, rect, text').length ?? 0,
              width: box?.width ?? 0,
              height: box?.height ?? 0,
            };
          }),
        );
        expect(charts.map((c) => c.id)).toEqual([
          'chart-infra-rate',
          'chart-completion',
          'chart-sources',
          'chart-connections',
        ]);
        for (const chart of charts) {
          expect(chart.width).toBeGreaterThan(100);
          expect(chart.height).toBeGreaterThan(50);
          expect(chart.marks).toBeGreaterThan(5);
        }
        const rows = await page.$$eval('#summary tbody tr', (trs) => trs.length);
        expect(rows).toBe(3);
        const shot = join(dir, 'report.png');
        await page.screenshot({ path: shot, fullPage: true });
        expect(statSync(shot).size).toBeGreaterThan(20_000);
      } finally {
        await browser.close();
      }
    },
  );
});
