/**
 * The TypeScript loader of the lab's worker processes (parallel.ts), in place of tsx. tsx compiles with
 * esbuild's keepNames, which wraps every named function expression (`const f = () => ...`) in a
 * defineProperty call at each evaluation: about 0.5 µs per closure created, and a ~250-byte property
 * dictionary on each one kept. The simulation creates closures per packet and per request and keeps
 * hundreds of thousands (a fifth of the JS heap at 300 devices), and every full garbage collection
 * marks them. Same esbuild, same target, modules at their own URLs; only the names wrapper is left out
 * (names stay what JavaScript gives them: the code is not minified).
 */
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./worker-hooks.mjs', import.meta.url);
