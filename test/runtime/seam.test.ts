import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The runtime seam (DESIGN.md): only these top-level folders may touch real clocks, timers,
// randomness or sockets. Everything else receives them, which is what lets the lab run the real code.
const ALLOWED = new Set(['runtime', 'cli', 'lab', 'test', 'bench', 'node_modules', '.git', 'dist']);
const FORBIDDEN: Array<[string, RegExp]> = [
  ['Date.now', /\bDate\.now\s*\(/],
  ['new Date()', /\bnew Date\(\s*\)/],
  ['performance.now', /\bperformance\.now\s*\(/],
  ['setTimeout', /\bsetTimeout\s*\(/],
  ['setInterval', /\bsetInterval\s*\(/],
  ['setImmediate', /\bsetImmediate\s*\(/],
  ['Math.random', /\bMath\.random\s*\(/],
  ['node:dgram', /['"](node:)?dgram['"]/],
  ['node:net', /['"](node:)?net['"]/],
];

const root = join(import.meta.dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const rel = relative(root, path);
    if (dir === root && (ALLOWED.has(name) || name.startsWith('.'))) continue;
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(name) && rel !== 'vitest.config.ts') out.push(path);
  }
  return out;
}

function findSeamViolations(files: string[]): string[] {
  const violations: string[] = [];
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, index) => {
      for (const [name, pattern] of FORBIDDEN) {
        if (pattern.test(line)) violations.push(`${relative(root, file)}:${index + 1} uses ${name}`);
      }
    });
  }
  return violations;
}

describe('runtime seam', () => {
  it('no component outside runtime/, cli/, lab/ touches real time, randomness or sockets', () => {
    const files = sourceFiles(root);
    expect(files.length).toBeGreaterThan(0);
    expect(findSeamViolations(files)).toEqual([]);
  });

  it('the scanner catches a violation', () => {
    const dir = mkdtempSync(join(tmpdir(), 'seam-'));
    const probe = join(dir, 'probe.ts');
    writeFileSync(
      probe,
      "const t = Date.now();\nsetTimeout(() => {}, 1);\nimport 'node:dgram';\nimport net from 'node:net';\n",
    );
    try {
      expect(findSeamViolations([probe])).toHaveLength(4);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
