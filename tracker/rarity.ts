/**
 * Piece-rarity hints from a bounded sample of peers' bitfields (BitTorrent bit order: the high bit of
 * byte 0 is piece 0). Pieces the requester already has are skipped; the rarest come first, ties by
 * index. Cost is O(pieces x sampled bitfields), independent of swarm size.
 */
export function rarestPieces(
  pieceCount: number,
  bitfields: ReadonlyArray<string | undefined>,
  own: string | undefined,
  limit: number,
  maxSample = 8,
): number[] {
  const sample = bitfields.filter((b): b is string => b !== undefined).slice(0, maxSample);
  if (pieceCount <= 0 || sample.length === 0) return [];
  const counts = new Uint16Array(pieceCount);
  for (const encoded of sample) {
    const bits = Buffer.from(encoded, 'base64');
    for (let i = 0; i < pieceCount; i++) if (hasBit(bits, i)) counts[i] = (counts[i] as number) + 1;
  }
  const mine = own === undefined ? null : Buffer.from(own, 'base64');
  const wanted: number[] = [];
  for (let i = 0; i < pieceCount; i++) if (!(mine && hasBit(mine, i))) wanted.push(i);
  wanted.sort((a, b) => (counts[a] as number) - (counts[b] as number) || a - b);
  return wanted.slice(0, limit);
}

function hasBit(bits: Uint8Array, index: number): boolean {
  const byte = bits[index >> 3];
  return byte !== undefined && (byte & (0x80 >> (index & 7))) !== 0;
}
