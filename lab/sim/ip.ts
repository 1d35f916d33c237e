/** IPv4 helpers for the simulated address plan. */
export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const part of parts) {
    const v = Number(part);
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`not an IPv4 address: ${ip}`);
    n = n * 256 + v;
  }
  return n;
}

export function intToIp(n: number): string {
  return `${Math.floor(n / 16777216) % 256}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

/** True for 100.64.0.0/10, the RFC 6598 shared address space used inside carrier-grade NATs. */
export function isSharedAddress(ip: string): boolean {
  const n = ipToInt(ip);
  return n >= ipToInt('100.64.0.0') && n <= ipToInt('100.127.255.255');
}

/** Hands out consecutive addresses from a range, skipping .0 and .255 host parts. */
export class AddressPool {
  private next: number;
  private readonly end: number;
  constructor(
    first: string,
    last: string,
    private readonly label: string,
  ) {
    this.next = ipToInt(first);
    this.end = ipToInt(last);
  }

  allocate(): string {
    while (this.next <= this.end) {
      const n = this.next++;
      const low = n % 256;
      if (low !== 0 && low !== 255) return intToIp(n);
    }
    throw new RangeError(`address pool ${this.label} exhausted`);
  }
}

/** IPv4 address as the 16-byte IPv4-mapped IPv6 form PCP uses (::ffff:a.b.c.d). */
export function ipv4Mapped(ip: string): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  const n = ipToInt(ip);
  out[12] = (n >>> 24) & 0xff;
  out[13] = (n >>> 16) & 0xff;
  out[14] = (n >>> 8) & 0xff;
  out[15] = n & 0xff;
  return out;
}

/** Inverse of {@link ipv4Mapped}; undefined when the bytes are not IPv4-mapped. */
export function fromIpv4Mapped(bytes: Uint8Array): string | undefined {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return undefined;
  return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
}
