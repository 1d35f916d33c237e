import { describe, expect, it } from 'vitest';
import { formatThesisTable, lossRuleset, tbfArgs, validateProfile } from '../../../lab/realnet/index.ts';
import type { LabResults, StrategyResult } from '../../../lab/report/results.ts';

describe('link emulation parameters', () => {
  it('sizes the tbf buffer to one bandwidth-delay product, never below 64 KiB', () => {
    const args = tbfArgs({ rateBps: 20e6, rttMs: 300 });
    expect(args.slice(0, 2)).toEqual(['rate', '20000000bit']);
    expect(Number(args[args.indexOf('limit') + 1])).toBe(750_000);
    expect(Number(tbfArgs({ rateBps: 1e6, rttMs: 10 })[5])).toBe(64 * 1024);
  });

  it('drops with numgen random at the configured probability, on frames out of the delay line only', () => {
    const rules = lossRuleset(0.02);
    expect(rules).toContain('numgen random mod 1000000 < 20000');
    expect(rules).toContain('iifname { "ta", "tb" }');
  });

  it('rejects impossible profiles', () => {
    expect(() => validateProfile({ loss: 1 })).toThrow(/invalid link profile/);
    expect(() => validateProfile({ rttMs: -1 })).toThrow(/invalid link profile/);
    expect(() => validateProfile({ rateBps: 1e6, rttMs: 50, loss: 0.1 })).not.toThrow();
  });
});

describe('thesis replay table', () => {
  const strategy = (infraBytes: number, saved: number, completed = 5): StrategyResult =>
    ({ infraBytes, savedVsClientServer: saved, completed, devices: 5 }) as StrategyResult;
  const run = (scenario: string, swarmlaneSaved: number): LabResults =>
    ({
      scenario,
      strategies: {
        'client-server': strategy(5e8, 0),
        swarmlane: strategy(5e8 * (1 - swarmlaneSaved), swarmlaneSaved),
        'plain-bittorrent': strategy(4e8, 0.2, 4),
      },
    }) as unknown as LabResults;

  it('puts each strategy in a row and each configuration in a column, with the thesis figures', () => {
    const table = formatThesisTable([run('thesis-ideal', 0.8), run('thesis-worst', 0.75)]);
    const lines = table.split('\n');
    expect(lines[0]).toBe('| strategy | thesis-ideal: CDN bytes / saved | thesis-worst: CDN bytes / saved |');
    expect(lines.find((l) => l.startsWith('| swarmlane'))).toBe(
      '| swarmlane | 100.0 MB / 80.0 % | 125.0 MB / 75.0 % |',
    );
    expect(lines.find((l) => l.startsWith('| stock BitTorrent'))).toContain('(4/5 done)');
    expect(lines.at(-1)).toBe('| thesis measured (BitTorrent) | 40.7 % | 3.0 % |');
  });
});
