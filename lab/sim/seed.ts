import { createSeededRandom, type Random } from '../../runtime/index.ts';

/** A seed for an independent stream named `label` under `seed` (FNV-1a over the label, then mixed). */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

export function derivedRandom(seed: number, label: string): Random {
  return createSeededRandom(deriveSeed(seed, label));
}
