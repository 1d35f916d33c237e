import { EdgeError } from './errors.ts';

/** Parses a byte size such as `1048576`, `512K`, `256M`, `2G` (binary multiples). */
export function parseByteSize(input: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?\s*$/i.exec(input);
  if (!match) throw new EdgeError('CONFIG_INVALID', `${what}: "${input}" is not a byte size (e.g. 512M, 2G)`);
  const scale = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[match[2]!.toUpperCase() as ''];
  const bytes = Math.floor(Number(match[1]) * scale);
  if (bytes <= 0) throw new EdgeError('CONFIG_INVALID', `${what} must be positive`);
  return bytes;
}

/** Parses a rate in Mbit/s (decimal, as network rates are quoted) into bytes per second. */
export function parseMbit(input: string, what: string): number {
  const value = Number(input);
  if (!Number.isFinite(value) || value <= 0)
    throw new EdgeError('CONFIG_INVALID', `${what}: "${input}" is not a positive number of Mbit/s`);
  return (value * 1_000_000) / 8;
}
