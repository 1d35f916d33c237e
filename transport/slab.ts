/**
 * Fresh byte views carved from shared slabs: one (off-heap, GC-tracked) allocation per slab instead of
 * one per datagram or block, which is measurable at tens of thousands of packets a second. A view is
 * never handed out twice (a full slab is replaced, not reused), so whoever holds one — the socket
 * until the datagram leaves, an application keeping a block — can keep it as long as it likes; the
 * slab is freed once no view of it is left.
 */
export class Slab {
  private buffer = new Uint8Array(0);
  private offset = 0;

  constructor(private readonly slabBytes = 128 * 1024) {}

  take(length: number): Uint8Array {
    if (this.offset + length > this.buffer.length) {
      this.buffer = new Uint8Array(Math.max(this.slabBytes, length));
      this.offset = 0;
    }
    const view = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return view;
  }

  /** A fresh copy of `bytes`. */
  copy(bytes: Uint8Array): Uint8Array {
    const view = this.take(bytes.length);
    view.set(bytes);
    return view;
  }
}
