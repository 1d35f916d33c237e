/** Module hooks of worker-loader.mjs: compiles .ts files with esbuild, no keepNames. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
// esbuild ships with tsx (a dependency), as lab/netns/bundle.ts relies on too.
import { transform } from 'esbuild';

const options = {
  loader: 'ts',
  format: 'esm',
  target: `node${process.versions.node}`,
  sourcemap: 'inline',
  // The fields of tsconfig.json that change emitted JavaScript.
  tsconfigRaw: {
    compilerOptions: { target: 'ES2022', verbatimModuleSyntax: true, useDefineForClassFields: true },
  },
};

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const { code } = await transform(await readFile(file, 'utf8'), { ...options, sourcefile: file });
  return { format: 'module', source: code, shortCircuit: true };
}
