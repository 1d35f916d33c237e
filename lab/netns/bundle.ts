/**
 * Bundles a TypeScript lab script into one ESM file so processes in namespaces start in ~0.1 s
 * instead of paying tsx's transform on every start (seconds each on a loaded 2-core machine).
 * npm packages stay external and resolve from the repo's node_modules, where the bundle is written.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const OUT_DIR = join(ROOT, 'node_modules', '.cache', 'swarmlane-netns');

/** Returns the path of a runnable .mjs for `entry` (a path relative to the repo root). */
export async function bundleScript(entry: string): Promise<string> {
  // esbuild ships with tsx (a dependency); imported lazily so the library loads without it.
  const esbuild = await import('esbuild');
  mkdirSync(OUT_DIR, { recursive: true });
  const outfile = join(OUT_DIR, `${basename(entry).replace(/\.ts$/, '')}-${process.pid}.mjs`);
  await esbuild.build({
    entryPoints: [join(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
  });
  return outfile;
}
