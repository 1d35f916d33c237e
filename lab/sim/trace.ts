import { createHash, type Hash } from 'node:crypto';

/**
 * A running SHA-256 over every packet event (time, kind, origin, destination, size). Events go into
 * a reusable Float64Array and are hashed a block at a time, so recording costs a few stores.
 */
export class TraceHash {
  private readonly hash: Hash = createHash('sha256');
  private readonly buffer = new Float64Array(8192);
  private used = 0;
  events = 0;

  record(time: number, kind: number, origin: number, target: number, size: number): void {
    const b = this.buffer;
    let i = this.used;
    b[i++] = time;
    b[i++] = kind;
    b[i++] = origin;
    b[i++] = target;
    b[i++] = size;
    this.used = i;
    this.events++;
    if (i + 5 > b.length) this.flush();
  }

  /** Hex digest of everything recorded so far (recording may continue afterwards). */
  digest(): string {
    this.flush();
    return this.hash.copy().digest('hex');
  }

  private flush(): void {
    if (this.used === 0) return;
    this.hash.update(new Uint8Array(this.buffer.buffer, 0, this.used * 8));
    this.used = 0;
  }
}
