/**
 * Piece bitfield in BitTorrent wire order (bit 7 of byte 0 is piece 0), so it can be sent as a
 * `bitfield` message or stored in the state file unchanged.
 */
export class Bitfield {
  readonly bytes: Uint8Array;
  private setCount = 0;

  constructor(
    readonly length: number,
    bytes?: Uint8Array,
  ) {
    this.bytes = new Uint8Array(Math.ceil(length / 8));
    if (bytes) {
      for (let i = 0; i < length; i++) if (getBit(bytes, i)) this.set(i);
    }
  }

  get(index: number): boolean {
    return index >= 0 && index < this.length && getBit(this.bytes, index);
  }

  set(index: number): void {
    if (index < 0 || index >= this.length || this.get(index)) return;
    this.bytes[index >> 3]! |= 0x80 >> (index & 7);
    this.setCount++;
  }

  clear(index: number): void {
    if (!this.get(index)) return;
    this.bytes[index >> 3]! &= ~(0x80 >> (index & 7));
    this.setCount--;
  }

  count(): number {
    return this.setCount;
  }

  complete(): boolean {
    return this.setCount === this.length;
  }

  /** Indices not yet set, ascending. */
  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.length; i++) if (!this.get(i)) out.push(i);
    return out;
  }
}

function getBit(bytes: Uint8Array, index: number): boolean {
  return ((bytes[index >> 3] ?? 0) & (0x80 >> (index & 7))) !== 0;
}
