// Small IPv4 helpers shared by STUN, PCP, NAT-PMP and the report builder.

/** Parses a dotted quad into 4 bytes, or returns null. */
export function parseIPv4(host: string): Uint8Array | null {
  const parts = host.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** RFC 5952-ish text form of 16 bytes (no zero compression: unambiguous and good enough for reports). */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(((bytes[offset + i]! << 8) | bytes[offset + i + 1]!).toString(16));
  return groups.join(':');
}

function inRange(host: string, base: string, prefix: number): boolean {
  const a = parseIPv4(host);
  const b = parseIPv4(base);
  if (!a || !b) return false;
  const av = ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
  const bv = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (av & mask) === (bv & mask);
}

/** RFC 1918 private space. */
export function isPrivateIPv4(host: string): boolean {
  return inRange(host, '10.0.0.0', 8) || inRange(host, '172.16.0.0', 12) || inRange(host, '192.168.0.0', 16);
}

/** RFC 6598 shared address space used by carrier-grade NAT. */
export function isSharedIPv4(host: string): boolean {
  return inRange(host, '100.64.0.0', 10);
}

/**
 * True when an address cannot be reached from the internet: private, shared (CGN), loopback,
 * link-local or unspecified. A gateway reporting such an external address sits behind another NAT.
 */
export function isNonPublicIPv4(host: string): boolean {
  return (
    isPrivateIPv4(host) ||
    isSharedIPv4(host) ||
    inRange(host, '127.0.0.0', 8) ||
    inRange(host, '169.254.0.0', 16) ||
    inRange(host, '0.0.0.0', 8)
  );
}

export function sameSubnet(a: string, b: string, prefix: number): boolean {
  return inRange(a, b, prefix);
}
