import { describe, expect, it } from 'vitest';
import { chainLocators, createAsnLocator } from '../../tracker/asn-db.ts';
import { TrackerConfigError } from '../../tracker/errors.ts';
import { createPrefixTable, parsePrefixCsv } from '../../tracker/prefixes.ts';
import { announceBody, makeTracker, PREFIX_CSV } from './helpers.ts';
import { writeMmdb } from './mmdb-writer.ts';

const MMDB = writeMmdb(
  [
    {
      cidr: '10.3.0.0/16',
      data: { autonomous_system_number: 64_999, autonomous_system_organization: 'Shadow' },
    },
    {
      cidr: '192.0.2.0/24',
      data: { autonomous_system_number: 65_001, autonomous_system_organization: 'Far Net' },
    },
    {
      cidr: '192.0.2.128/25',
      data: { autonomous_system_number: 65_002, autonomous_system_organization: 'Inner' },
    },
    { cidr: '198.51.100.0/24', data: { autonomous_system_number: 65_003 } },
  ],
  'GeoLite2-ASN',
);

describe('MaxMind ASN database as a locality source', () => {
  it('reads AS number and organisation, longest prefix first, and knows nothing else', () => {
    const asn = createAsnLocator(MMDB);
    expect(asn.databaseType).toBe('GeoLite2-ASN');
    expect(asn.lookup('192.0.2.7')).toEqual({ asn: 65_001, isp: 'Far Net', region: null });
    expect(asn.lookup('192.0.2.200')).toEqual({ asn: 65_002, isp: 'Inner', region: null });
    expect(asn.lookup('::ffff:198.51.100.9')).toEqual({ asn: 65_003, isp: 'AS65003', region: null });
    expect(asn.lookup('203.0.113.1')).toBeNull();
    expect(asn.lookup('not an address')).toBeNull();
    expect(() => createAsnLocator(Buffer.from('no maxmind here'))).toThrow(TrackerConfigError);
  });

  it('answers after the prefix table: the operator wins where both know an address', () => {
    const table = createPrefixTable(parsePrefixCsv(PREFIX_CSV));
    const chain = chainLocators([table, createAsnLocator(MMDB)]);
    expect(chain?.lookup('10.3.4.5')).toEqual({ asn: 64_502, isp: 'isp-b', region: 'eu' });
    expect(chain?.lookup('192.0.2.7')).toEqual({ asn: 65_001, isp: 'Far Net', region: null });
    expect(chain?.lookup('203.0.113.1')).toBeNull();
    expect(chainLocators([null, null])).toBeNull();
  });

  it('groups devices the prefix table does not know by their AS in announce answers', async () => {
    const table = createPrefixTable(parsePrefixCsv(PREFIX_CSV));
    const { app } = makeTracker({ prefixes: chainLocators([table, createAsnLocator(MMDB)]) });
    const announce = (ip: string, id: string) =>
      app.inject({ method: 'POST', url: '/v1/announce', payload: announceBody(id), remoteAddress: ip });
    await announce('192.0.2.10', 'same-as-peer');
    await announce('198.51.100.10', 'other-as-peer');
    const answer = (await announce('192.0.2.20', 'far-requester')).json();
    expect(answer.you).toMatchObject({ asn: 65_001, isp: 'Far Net', region: null });
    const tiers = Object.fromEntries(
      answer.peers.map((p: { deviceId: string; tier: string }) => [p.deviceId, p.tier]),
    );
    expect(tiers).toEqual({ 'same-as-peer': 'isp', 'other-as-peer': 'internet' });
  });
});
