import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../../runtime/index.ts';
import { bucketsOf, type Locality } from '../../tracker/locality.ts';
import { createMemorySwarmStore } from '../../tracker/memory-store.ts';
import { DEFAULT_SELECTION_OPTIONS, type Requester, selectPeers } from '../../tracker/selection.ts';
import type { PeerRecord, ReachClass } from '../../tracker/swarm-store.ts';

const CGN_IP = '203.0.113.9';

function peer(id: string, publicIp: string, reach: ReachClass, lanHost: string | null): PeerRecord {
  return {
    peerId: id,
    address: { host: publicIp, port: 4000 },
    isp: 'isp-a',
    region: 'eu',
    asn: 1,
    reach,
    seeder: true,
    have: 32,
    candidates: lanHost ? [{ type: 'host', host: lanHost, port: 4000 }] : [],
    load: 0,
    uploadCapacity: 1,
    lastSeen: 0,
  };
}

async function store(records: PeerRecord[]) {
  const s = createMemorySwarmStore({ random: createSeededRandom(4), now: () => 0 });
  for (const r of records) {
    const locality: Locality = { publicIp: r.address.host, isp: r.isp, region: r.region, asn: r.asn };
    await s.upsertPeer('s', r, bucketsOf(locality, r.reach, r.seeder));
  }
  return s;
}

/** The peers a device behind a symmetric NAT (`hard`) at `publicIp` is handed, 30 wanted. */
async function selectFor(records: PeerRecord[], publicIp: string, options = DEFAULT_SELECTION_OPTIONS) {
  const requester: Requester = {
    peerId: 'me',
    locality: { publicIp, isp: 'isp-a', region: 'eu', asn: 1 },
    reach: 'hard',
    seeder: false,
    port: 4000,
  };
  return selectPeers(await store(records), 's', requester, 30, options);
}

describe('peers behind the requester’s public address', () => {
  it('behind a CGN: at most 8 home-LAN peers, so the open peers the requester can reach still fit', async () => {
    const records = [
      // 40 homes behind one carrier-grade NAT, every LAN numbered 192.168.1.0/24.
      ...Array.from({ length: 40 }, (_, i) => peer(`home-${i}`, CGN_IP, 'hard', `192.168.1.${2 + (i % 5)}`)),
      // 5 phones directly inside the CGN: their 100.64/10 addresses are routable from every home.
      ...Array.from({ length: 5 }, (_, i) => peer(`phone-${i}`, CGN_IP, 'hard', `100.64.3.${i + 2}`)),
      // 20 devices with a port mapping elsewhere in the ISP.
      ...Array.from({ length: 20 }, (_, i) => peer(`open-${i}`, `198.51.100.${i + 1}`, 'open', null)),
    ];
    const selected = await selectFor(records, CGN_IP);
    const ids = selected.map((s) => s.peer.peerId);
    expect(ids.filter((id) => id.startsWith('home-'))).toHaveLength(8);
    expect(ids.filter((id) => id.startsWith('phone-'))).toHaveLength(5);
    expect(ids.filter((id) => id.startsWith('open-')).length).toBeGreaterThanOrEqual(15);
    for (const s of selected) if (s.peer.peerId.startsWith('open-')) expect(s.how).toBe('direct');
  });

  it('one home with 5 devices: every other device is a LAN peer, nothing is capped', async () => {
    const home = '192.0.2.77';
    const records = [
      ...Array.from({ length: 4 }, (_, i) => peer(`home-${i}`, home, 'hard', `192.168.1.${10 + i}`)),
      ...Array.from({ length: 10 }, (_, i) => peer(`open-${i}`, `198.51.100.${i + 1}`, 'open', null)),
    ];
    const selected = await selectFor(records, home);
    const lan = selected.filter((s) => s.how === 'lan').map((s) => s.peer.peerId);
    expect(lan.sort()).toEqual(['home-0', 'home-1', 'home-2', 'home-3']);
  });

  it('the cap is an option: 0 hands out no home-LAN peers behind a shared address', async () => {
    const records = Array.from({ length: 12 }, (_, i) =>
      peer(`home-${i}`, CGN_IP, 'hard', `10.0.0.${i + 2}`),
    );
    const selected = await selectFor(records, CGN_IP, {
      ...DEFAULT_SELECTION_OPTIONS,
      maxPrivateLanPeers: 0,
    });
    expect(selected).toHaveLength(0);
  });
});
