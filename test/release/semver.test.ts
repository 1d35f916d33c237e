import { describe, expect, it } from 'vitest';
import { compareSemver, isSemver } from '../../release/index.ts';

describe('semver', () => {
  it('accepts SemVer 2.0.0 and rejects near misses', () => {
    for (const v of ['0.0.1', '1.2.3', '10.20.30', '1.0.0-alpha.1', '1.0.0+build.5', '1.0.0-rc.1+sha.abc'])
      expect(isSemver(v), v).toBe(true);
    for (const v of ['1.0', 'v1.0.0', '01.0.0', '1.0.0-', '1.0.0-01', '', '1.2.3.4', 'latest'])
      expect(isSemver(v), v).toBe(false);
  });

  it('orders versions by SemVer precedence (spec section 11 example chain)', () => {
    const chain = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.9.0',
      '1.10.0',
      '2.0.0',
    ];
    for (let i = 0; i + 1 < chain.length; i++) {
      expect(compareSemver(chain[i]!, chain[i + 1]!), `${chain[i]} < ${chain[i + 1]}`).toBeLessThan(0);
      expect(compareSemver(chain[i + 1]!, chain[i]!)).toBeGreaterThan(0);
    }
  });

  it('ignores build metadata', () => {
    expect(compareSemver('1.0.0+a', '1.0.0+b')).toBe(0);
  });
});
