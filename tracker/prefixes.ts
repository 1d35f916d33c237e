import { TrackerConfigError } from './errors.ts';

/** Where an address sits in the operator's network map. */
export interface NetworkLocation {
  asn: number | null;
  isp: string | null;
  region: string | null;
}

export interface PrefixEntry extends NetworkLocation {
  cidr: string;
}

/**
 * Longest-prefix-match table over IPv4 CIDRs, loaded from the operator's CSV
 * (`cidr,asn,isp,region`, header optional, `#` comments). One hash map per prefix length, probed
 * from the longest length present, so a lookup costs at most 33 map probes whatever the table size.
 */
export interface PrefixTable {
  readonly size: number;
  lookup(ip: string): NetworkLocation | null;
}

export function ipv4ToInt(ip: string): number | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

/** Strips an IPv4-mapped IPv6 prefix (`::ffff:1.2.3.4`) that Node reports for dual-stack sockets. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

function mask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

export function createPrefixTable(entries: readonly PrefixEntry[]): PrefixTable {
  const byLength = new Map<number, Map<number, NetworkLocation>>();
  for (const entry of entries) {
    const [base, lengthText] = entry.cidr.split('/');
    const ip = base === undefined ? null : ipv4ToInt(base);
    const length = Number(lengthText);
    if (ip === null || !Number.isInteger(length) || length < 0 || length > 32)
      throw new TrackerConfigError(`prefix table: invalid CIDR "${entry.cidr}"`);
    let table = byLength.get(length);
    if (!table) {
      table = new Map();
      byLength.set(length, table);
    }
    table.set((ip & mask(length)) >>> 0, { asn: entry.asn, isp: entry.isp, region: entry.region });
  }
  const lengths = [...byLength.keys()].sort((a, b) => b - a);
  return {
    size: entries.length,
    lookup(ipText) {
      const ip = ipv4ToInt(normalizeIp(ipText));
      if (ip === null) return null;
      for (const length of lengths) {
        const hit = byLength.get(length)?.get((ip & mask(length)) >>> 0);
        if (hit) return hit;
      }
      return null;
    },
  };
}

/** Parses the operator CSV. Empty asn/isp/region cells mean "unknown". */
export function parsePrefixCsv(text: string): PrefixEntry[] {
  const entries: PrefixEntry[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const cells = line.split(',').map((cell) => cell.trim());
    if (index === 0 && cells[0]?.toLowerCase() === 'cidr') return;
    const [cidr, asnText, isp, region] = cells;
    if (!cidr || cells.length < 4)
      throw new TrackerConfigError(`prefix table line ${index + 1}: expected cidr,asn,isp,region`);
    const asn = asnText ? Number(asnText.replace(/^AS/i, '')) : null;
    if (asn !== null && !Number.isInteger(asn))
      throw new TrackerConfigError(`prefix table line ${index + 1}: invalid ASN "${asnText}"`);
    entries.push({ cidr, asn, isp: isp || null, region: region || null });
  });
  return entries;
}
