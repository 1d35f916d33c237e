import { describe, expect, it } from 'vitest';
import { Bitfield } from '../../agent/engine/bitfield.ts';
import { parseAgentConfig } from '../../agent/index.ts';
import { btPeersOf, startAnnouncer } from '../../agent/net/announcer.ts';
import type { PeerNetwork } from '../../agent/net/peer-network.ts';
import { type TrackerClient, TrackerClientError } from '../../agent/net/tracker-client.ts';
import { type Address, createSilentLogger } from '../../runtime/index.ts';
import type { AnnounceRequest, AnnounceResponse } from '../../tracker/index.ts';
import { ManualClock } from './helpers.ts';

const answer = (btPeers: unknown): AnnounceResponse =>
  ({
    interval: 30,
    minInterval: 5,
    peers: [],
    edges: [],
    cdnUrls: [],
    rarePieces: [],
    swarm: { seeders: 1, leechers: 1 },
    you: { publicIp: '127.0.0.1', isp: null, region: null, asn: null, reach: 'open' },
    btPeers,
  }) as AnnounceResponse;

function announcerWith(tracker: (request: AnnounceRequest) => AnnounceResponse) {
  const sent: Array<AnnounceRequest & { tcpPort?: number }> = [];
  const dialled: Address[][] = [];
  const client: TrackerClient = {
    announce: async (request) => {
      sent.push(request);
      return tracker(request);
    },
    current: async () => {
      throw new Error('unused');
    },
    currentAndJoin: async () => {
      throw new Error('unused');
    },
    report: async () => {},
    rendezvous: async () => ({ port: 1, publicKey: '' }),
  };
  const network = {
    publicKey: new Uint8Array(32).fill(1),
    localAddress: () => ({ host: '127.0.0.1', port: 4000 }),
    hasPeer: () => false,
    dial: async () => false,
  } as unknown as PeerNetwork;
  const announcer = startAnnouncer(
    {
      release: 'fw@1.0.0',
      infoHash: 'ab'.repeat(20),
      deviceId: 'device-0001',
      maxPeers: 30,
      retryMs: 5000,
      maxIntervalMs: 30_000,
    },
    {
      clock: new ManualClock(),
      logger: createSilentLogger(),
      tracker: client,
      network,
      have: () => new Bitfield(4),
      reachability: () => ({
        public: true,
        mapping: 'none',
        filtering: 'none',
        reflexive: null,
        portMapping: null,
        lan: [],
        hairpin: null,
        errors: [],
      }),
      candidates: () => [],
      conditions: () => ({ wifi: true, charging: true, uploadAllowed: true }),
      token: { get: () => undefined, set: () => {} },
      connectedPeers: () => 0,
      onResponse: () => {},
      tcp: { port: () => 6881, dial: (peers) => dialled.push(peers) },
    },
  );
  return { announcer, sent, dialled };
}

describe('announcing the TCP wire', () => {
  it('announces the TCP port and dials the stock clients the tracker lists, skipping garbage', async () => {
    const listed = [
      { host: '127.0.0.1', port: 51413 },
      { host: '', port: 1 },
      { host: '10.0.0.2', port: 0 },
      { host: '10.0.0.3', port: 70000 },
      'nonsense',
      null,
      ...Array.from({ length: 20 }, (_, i) => ({ host: `10.0.1.${i}`, port: 6881 })),
    ];
    const { announcer, sent, dialled } = announcerWith(() => answer(listed));
    await announcer.start();
    expect(sent[0]?.tcpPort).toBe(6881);
    expect(dialled).toHaveLength(1);
    expect(dialled[0]?.[0]).toEqual({ host: '127.0.0.1', port: 51413 });
    expect(dialled[0]).toHaveLength(8);
    await announcer.stop();
  });

  it('reads btPeers defensively: absent, not a list, or wrong shapes give no peers', () => {
    expect(btPeersOf({})).toEqual([]);
    expect(btPeersOf(null)).toEqual([]);
    expect(btPeersOf({ btPeers: 'x' })).toEqual([]);
    expect(btPeersOf({ btPeers: [{ host: 'a', port: 1.5 }] })).toEqual([]);
  });

  it('a tracker that refuses the tcpPort field (400) gets announces without it from then on', async () => {
    const { announcer, sent } = announcerWith((request) => {
      if ((request as { tcpPort?: number }).tcpPort !== undefined)
        throw new TrackerClientError('BAD_REQUEST', 'body must NOT have additional properties');
      return answer(undefined);
    });
    await announcer.start();
    await announcer.update();
    expect(sent.map((r) => r.tcpPort)).toEqual([6881, undefined, undefined]);
    await announcer.stop();
  });
});

describe('TCP wire config', () => {
  const base = { trust: { keys: ['k.pub'] }, stateDir: '/tmp/x' };
  it('is off by default and listens on the UDP host unless told otherwise', () => {
    expect(parseAgentConfig(base).network.tcpPort).toBeUndefined();
    const on = parseAgentConfig({ ...base, network: { udpHost: '10.1.2.3', tcpPort: 0 } });
    expect(on.network).toMatchObject({ tcpPort: 0, tcpHost: '10.1.2.3', tcpPeers: [] });
    const peers = parseAgentConfig({ ...base, network: { tcpPort: 6881, tcpPeers: ['10.0.0.9:51413'] } });
    expect(peers.network.tcpPeers).toEqual([{ host: '10.0.0.9', port: 51413 }]);
  });

  it('refuses tcpPeers without a TCP wire, bad peer addresses and out-of-range ports', () => {
    for (const network of [
      { tcpPeers: ['10.0.0.9:51413'] },
      { tcpPort: 1, tcpPeers: ['10.0.0.9'] },
      { tcpPort: 1, tcpPeers: ['10.0.0.9:0'] },
      { tcpPort: 70000 },
    ])
      expect(() => parseAgentConfig({ ...base, network })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('/network/tcp') }),
      );
  });
});
