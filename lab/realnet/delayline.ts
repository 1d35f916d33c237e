/**
 * Builds the C delay line (delayline.c, next to this file) with the system's gcc on first use.
 * Nothing prebuilt is shipped: the binary is cached by source hash under node_modules/.cache.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RealnetError } from './errors.ts';

const run = promisify(execFile);
const SOURCE = join(import.meta.dirname, 'delayline.c');
const CACHE = join(import.meta.dirname, '..', '..', 'node_modules', '.cache', 'swarmlane-realnet');

export async function delayLineBinary(): Promise<string> {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const binary = join(CACHE, `delayline-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  try {
    await run('gcc', ['-O2', '-Wall', '-o', tmp, SOURCE]);
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new RealnetError('DELAYLINE_BUILD_FAILED', `gcc delayline.c: ${(e.stderr || e.message).trim()}`);
  }
  // Rename is atomic: a concurrent run sees either no binary or a complete one.
  renameSync(tmp, binary);
  return binary;
}
