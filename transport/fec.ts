/**
 * Tail repair: forward erasure coding over the last flight of packets (see PROTOCOL.md, "Tail
 * repair"). A group is up to {@link MAX_GROUP_SPAN} consecutive packet numbers; each source symbol
 * is a packet's plaintext, zero-padded to the repair length. Repair symbol r is
 * sum_i C[r][i] * source_i over GF(2^8) with the Cauchy matrix C[r][i] = 1 / (r xor (128 + i)): every
 * square submatrix of a Cauchy matrix is invertible, so ANY m repairs recover ANY m missing sources
 * (an MDS code, like Reed–Solomon) and the receiver never has to ask which repairs it got.
 */
export const MAX_GROUP_SPAN = 128;
export const MAX_REPAIRS_PER_GROUP = 128;

// GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), as in most Reed–Solomon codes.
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}
/** MUL[a << 8 | b] = a * b: one lookup per byte in the inner loops. */
const MUL = new Uint8Array(65536);
for (let a = 1; a < 256; a++) {
  for (let b = 1; b < 256; b++) MUL[(a << 8) | b] = EXP[LOG[a]! + LOG[b]!]!;
}

function inverse(a: number): number {
  return EXP[255 - LOG[a]!]!;
}

/** Cauchy coefficient of source `i` in repair `r` (never zero: r < 128 <= 128 + i). */
export function coefficient(r: number, i: number): number {
  return inverse(r ^ (MAX_GROUP_SPAN + i));
}

/** dst ^= c * src over the first min(dst, src) bytes. */
function addScaled(dst: Uint8Array, src: Uint8Array, c: number): void {
  const n = Math.min(dst.length, src.length);
  if (c === 1) {
    for (let j = 0; j < n; j++) dst[j]! ^= src[j]!;
    return;
  }
  const row = c << 8;
  for (let j = 0; j < n; j++) {
    const b = src[j]!;
    if (b !== 0) dst[j]! ^= MUL[row | b]!;
  }
}

/** Repair symbol `index` (< 128) of `length` bytes over `sources` (each at most `length` bytes). */
export function encodeRepair(sources: readonly Uint8Array[], index: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < sources.length; i++) addScaled(out, sources[i]!, coefficient(index, i));
  return out;
}

/**
 * Recovers the missing sources of a group. `sources[i]` is the received plaintext of the i-th packet
 * (undefined if missing); `repairs` maps repair index to its symbol (all of one length). Returns the
 * recovered symbols by source index, or undefined if there are fewer repairs than missing sources.
 */
export function decodeGroup(
  sources: ReadonlyArray<Uint8Array | undefined>,
  repairs: ReadonlyMap<number, Uint8Array>,
): Map<number, Uint8Array> | undefined {
  const missing: number[] = [];
  for (let i = 0; i < sources.length; i++) if (sources[i] === undefined) missing.push(i);
  const recovered = new Map<number, Uint8Array>();
  const m = missing.length;
  if (m === 0) return recovered;
  if (repairs.size < m) return undefined;
  const rows: number[][] = [];
  const rhs: Uint8Array[] = [];
  for (const [r, symbol] of repairs) {
    if (rows.length === m) break;
    // Take the known sources out: what is left is a combination of the missing ones only.
    const y = symbol.slice();
    for (let i = 0; i < sources.length; i++) {
      const source = sources[i];
      if (source !== undefined) addScaled(y, source, coefficient(r, i));
    }
    rows.push(missing.map((i) => coefficient(r, i)));
    rhs.push(y);
  }
  // Gauss–Jordan elimination over GF(2^8); a Cauchy submatrix is never singular, but pivot anyway.
  for (let col = 0; col < m; col++) {
    let pivot = col;
    while (pivot < m && rows[pivot]![col] === 0) pivot++;
    if (pivot === m) return undefined;
    if (pivot !== col) {
      [rows[pivot], rows[col]] = [rows[col]!, rows[pivot]!];
      [rhs[pivot], rhs[col]] = [rhs[col]!, rhs[pivot]!];
    }
    const row = rows[col]!;
    const scale = inverse(row[col]!);
    if (scale !== 1) {
      for (let k = 0; k < m; k++) row[k] = row[k] === 0 ? 0 : MUL[(scale << 8) | row[k]!]!;
      const y = rhs[col]!;
      for (let j = 0; j < y.length; j++) if (y[j] !== 0) y[j] = MUL[(scale << 8) | y[j]!]!;
    }
    for (let other = 0; other < m; other++) {
      if (other === col) continue;
      const f = rows[other]![col]!;
      if (f === 0) continue;
      const target = rows[other]!;
      for (let k = 0; k < m; k++) if (row[k] !== 0) target[k]! ^= MUL[(f << 8) | row[k]!]!;
      addScaled(rhs[other]!, rhs[col]!, f);
    }
  }
  for (let k = 0; k < m; k++) recovered.set(missing[k]!, rhs[k]!);
  return recovered;
}

/**
 * The plaintexts of the most recent packets by packet number, in one preallocated buffer (no
 * allocation per packet). Each side keeps one only once the path has shown loss, sized to what is in
 * flight (it grows, by powers of two up to a limit, as the window does), so a slow session costs a
 * few kilobytes and only a fast lossy one the full limit.
 */
export class PlaintextRing {
  private pns: Float64Array;
  private lengths: Uint16Array;
  private buffer: Uint8Array;

  constructor(
    private capacityPackets: number,
    private readonly slot: number,
    private readonly maxPackets = capacityPackets,
  ) {
    this.pns = new Float64Array(capacityPackets).fill(-1);
    this.lengths = new Uint16Array(capacityPackets);
    this.buffer = new Uint8Array(capacityPackets * slot);
  }

  get capacity(): number {
    return this.capacityPackets;
  }

  /** Makes room for at least `packets` consecutive packet numbers (up to the limit), keeping entries. */
  reserve(packets: number): void {
    if (packets <= this.capacityPackets || this.capacityPackets >= this.maxPackets) return;
    let next = this.capacityPackets;
    while (next < packets && next < this.maxPackets) next *= 2;
    next = Math.min(next, this.maxPackets);
    const old = { pns: this.pns, lengths: this.lengths, buffer: this.buffer, capacity: this.capacityPackets };
    this.capacityPackets = next;
    this.pns = new Float64Array(next).fill(-1);
    this.lengths = new Uint16Array(next);
    this.buffer = new Uint8Array(next * this.slot);
    for (let i = 0; i < old.capacity; i++) {
      const pn = old.pns[i]!;
      if (pn < 0) continue;
      const start = i * this.slot;
      this.store(pn, old.buffer.subarray(start, start + old.lengths[i]!));
    }
  }

  store(pn: number, plain: Uint8Array): void {
    const index = pn % this.capacityPackets;
    if (plain.length > this.slot) {
      this.pns[index] = -1;
      return;
    }
    this.pns[index] = pn;
    this.lengths[index] = plain.length;
    this.buffer.set(plain, index * this.slot);
  }

  /** A view of packet `pn`'s plaintext (valid until the slot is reused), or undefined. */
  get(pn: number): Uint8Array | undefined {
    const index = pn % this.capacityPackets;
    if (this.pns[index] !== pn) return undefined;
    const start = index * this.slot;
    return this.buffer.subarray(start, start + this.lengths[index]!);
  }
}
