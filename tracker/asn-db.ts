import { type AsnResponse, Reader } from 'maxmind';
import { TrackerConfigError } from './errors.ts';
import type { NetworkLocation, PrefixTable } from './prefixes.ts';
import { normalizeIp } from './prefixes.ts';

/** Where an address is, from any source: the operator's prefix table, a MaxMind database, or both. */
export type Locator = Pick<PrefixTable, 'lookup'>;

/**
 * A MaxMind ASN database (GeoLite2-ASN or any MMDB with `autonomous_system_number`) as a locality
 * source: the AS number, and its organisation as the ISP name (`AS<n>` when the record has none).
 * It knows no regions. Lookups of addresses the database does not cover return null.
 */
export function createAsnLocator(db: Uint8Array): Locator & { readonly databaseType: string } {
  let reader: Reader<AsnResponse>;
  try {
    reader = new Reader<AsnResponse>(Buffer.from(db.buffer, db.byteOffset, db.byteLength));
  } catch (error) {
    throw new TrackerConfigError(`ASN database: not a MaxMind DB file (${(error as Error).message})`);
  }
  return {
    databaseType: reader.metadata.databaseType,
    lookup(ip) {
      let hit: AsnResponse | null;
      try {
        hit = reader.get(normalizeIp(ip));
      } catch {
        return null; // not an IP address this database can look up
      }
      const asn = hit?.autonomous_system_number;
      if (typeof asn !== 'number') return null;
      const org = hit?.autonomous_system_organization;
      return { asn, isp: typeof org === 'string' && org !== '' ? org : `AS${asn}`, region: null };
    },
  };
}

/**
 * Locality sources in order of trust: the first that knows an address answers (the operator's table
 * before MaxMind). A small per-address cache keeps repeat announces from walking both.
 */
export function chainLocators(
  sources: ReadonlyArray<Locator | null>,
  cacheSize = 50_000,
): PrefixTable | null {
  const present = sources.filter((s): s is Locator => s !== null);
  if (present.length === 0) return null;
  const cache = new Map<string, NetworkLocation | null>();
  return {
    size: present.length,
    lookup(ip) {
      const cached = cache.get(ip);
      if (cached !== undefined) return cached;
      let found: NetworkLocation | null = null;
      for (const source of present) {
        found = source.lookup(ip);
        if (found) break;
      }
      if (cache.size >= cacheSize) cache.clear(); // crude bound: refills from the sources
      cache.set(ip, found);
      return found;
    },
  };
}
