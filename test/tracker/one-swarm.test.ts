import { Value } from '@sinclair/typebox/value';
import bencode from 'bencode';
import { describe, expect, it } from 'vitest';
import { AnnounceResponse } from '../../tracker/api-schema.ts';
import { announceBody, HARD, makeTracker, PUNCHABLE, RELEASE } from './helpers.ts';

const enc = (bytes: Uint8Array) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
const peerId = (n: number) => enc(Buffer.from(`-AR0001-${String(n).padStart(12, '0')}`));
const btUrl = (n: number, extra = '') =>
  `/announce?info_hash=${enc(Buffer.from(RELEASE.infoHash, 'hex'))}&peer_id=${peerId(n)}&port=${6881 + n}&left=100${extra}`;
const decode = (body: Buffer) => bencode.decode(body) as Record<string, unknown>;
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);

function compactList(peers: Uint8Array): string[] {
  const out: string[] = [];
  for (let o = 0; o + 6 <= peers.length; o += 6)
    out.push(
      `${peers.slice(o, o + 4).join('.')}:${(peers[o + 4] as number) * 256 + (peers[o + 5] as number)}`,
    );
  return out.sort();
}

type Tracker = ReturnType<typeof makeTracker>;
const agent = (app: Tracker['app'], ip: string, body: ReturnType<typeof announceBody>) =>
  app.inject({ method: 'POST', url: '/v1/announce', payload: body, remoteAddress: ip });

describe('one swarm per release for agents and stock clients', () => {
  it('hands stock clients the agents that speak TCP, and agents the stock clients, and counts both', async () => {
    const { app } = makeTracker();
    await agent(app, '10.1.0.1', announceBody('tcp-agent-01', { tcpPort: 7001 }));
    await agent(app, '10.1.0.2', announceBody('udp-agent-01'));
    await agent(app, '10.1.0.3', announceBody('tcp-seed-001', { tcpPort: 7003, progress: { have: 40 } }));
    await app.inject({ method: 'GET', url: btUrl(1), remoteAddress: '10.1.0.4' });

    const compact = decode(
      (await app.inject({ method: 'GET', url: btUrl(2), remoteAddress: '10.1.0.5' })).rawPayload,
    );
    // Agents at their observed address and TCP port, next to the other stock client; no UDP-only agent.
    expect(compactList(compact.peers as Uint8Array)).toEqual([
      '10.1.0.1:7001',
      '10.1.0.3:7003',
      '10.1.0.4:6882',
    ]);
    expect(compact.complete).toBe(1);
    expect(compact.incomplete).toBe(4);

    const dict = decode(
      (await app.inject({ method: 'GET', url: btUrl(2, '&compact=0'), remoteAddress: '10.1.0.5' }))
        .rawPayload,
    );
    const entries = (dict.peers as Array<Record<string, unknown>>)
      .map((p) => `${text(p.ip)}:${p.port}`)
      .sort();
    expect(entries).toEqual(['10.1.0.1:7001', '10.1.0.3:7003', '10.1.0.4:6882']);

    const answer = (await agent(app, '10.1.0.6', announceBody('req-agent-01'))).json();
    expect(
      Value.Check(AnnounceResponse, answer),
      JSON.stringify([...Value.Errors(AnnounceResponse, answer)]),
    ).toBe(true);
    expect(answer.btPeers.map((p: { host: string; port: number }) => `${p.host}:${p.port}`).sort()).toEqual([
      '10.1.0.4:6882',
      '10.1.0.5:6883',
    ]);
    // Stock clients are TCP-only: never in the PZ peer list.
    expect(answer.peers.map((p: { deviceId: string }) => p.deviceId).sort()).toEqual([
      'tcp-agent-01',
      'tcp-seed-001',
      'udp-agent-01',
    ]);
    expect(answer.swarm).toEqual({ seeders: 1, leechers: 5 });

    const scrape = decode(
      (
        await app.inject({
          method: 'GET',
          url: `/scrape?info_hash=${enc(Buffer.from(RELEASE.infoHash, 'hex'))}`,
          remoteAddress: '10.1.0.5',
        })
      ).rawPayload,
    );
    const files = scrape.files as
      | Map<Uint8Array, Record<string, number>>
      | Record<string, Record<string, number>>;
    const entry = files instanceof Map ? [...files.values()][0] : Object.values(files)[0];
    expect(entry).toMatchObject({ complete: 1, incomplete: 5 });

    // A stopped stock client leaves the agents' lists.
    await app.inject({ method: 'GET', url: btUrl(1, '&event=stopped'), remoteAddress: '10.1.0.4' });
    const after = (
      await agent(app, '10.1.0.6', announceBody('req-agent-01', { deviceToken: answer.deviceToken }))
    ).json();
    expect(after.btPeers).toEqual([{ host: '10.1.0.5', port: 6883 }]);
  });

  it('never crosses the product peering scope in either direction', async () => {
    const { app } = makeTracker({ scopes: { 'acme-fw': 'isp' } });
    await agent(app, '10.1.0.1', announceBody('isp-a-agent1', { tcpPort: 7001 }));
    await agent(app, '10.3.0.1', announceBody('isp-b-agent1', { tcpPort: 7002 }));
    await app.inject({ method: 'GET', url: btUrl(1), remoteAddress: '10.3.0.2' }); // isp-b stock client
    const stock = decode(
      (await app.inject({ method: 'GET', url: btUrl(2), remoteAddress: '10.1.0.9' })).rawPayload,
    );
    expect(compactList(stock.peers as Uint8Array)).toEqual(['10.1.0.1:7001']);
    const answer = (await agent(app, '10.1.0.7', announceBody('isp-a-agent2'))).json();
    expect(answer.btPeers).toEqual([{ host: '10.1.0.9', port: 6883 }]);
  });

  it('answers an empty btPeers list when no stock client is in the swarm', async () => {
    const { app } = makeTracker();
    const answer = (await agent(app, '10.1.0.6', announceBody('lonely-agent', { tcpPort: 7000 }))).json();
    expect(answer.btPeers).toEqual([]);
    expect(Value.Check(AnnounceResponse, answer)).toBe(true);
  });
});

describe('random selection mode (the plain-BitTorrent baseline)', () => {
  it('hands out random peers the stock way: observed address only, direct, tier internet', async () => {
    const { app } = makeTracker({ selectionMode: 'random' });
    const lan = [{ type: 'host' as const, host: '192.168.1.20', port: 4000 }];
    await agent(
      app,
      '10.1.0.1',
      announceBody('hard-peer-01', { reachability: HARD, port: 4001, candidates: lan }),
    );
    await agent(
      app,
      '10.1.0.2',
      announceBody('punch-peer-1', {
        reachability: PUNCHABLE,
        port: 4002,
        candidates: [...lan, { type: 'srflx', host: '203.0.113.9', port: 5555 }],
      }),
    );
    await agent(app, '10.4.0.3', announceBody('open-peer-01', { port: 4003, candidates: lan }));
    const answer = (
      await agent(app, '10.1.0.9', announceBody('hard-req-001', { reachability: HARD }))
    ).json();
    expect(Value.Check(AnnounceResponse, answer)).toBe(true);
    const seen = Object.fromEntries(
      answer.peers.map((p: { deviceId: string; candidates: unknown[] }) => [p.deviceId, p.candidates]),
    );
    expect(seen).toEqual({
      'hard-peer-01': [{ type: 'srflx', host: '10.1.0.1', port: 4001 }],
      'punch-peer-1': [{ type: 'srflx', host: '10.1.0.2', port: 4002 }],
      'open-peer-01': [{ type: 'srflx', host: '10.4.0.3', port: 4003 }],
    });
    for (const p of answer.peers) {
      expect(p.reachableHow).toBe('direct');
      expect(p.tier).toBe('internet');
      expect(p.bridge).toBe(false);
    }
  });

  it('samples the swarm in proportion to its buckets, not one share per reach class', async () => {
    const { app } = makeTracker({ selectionMode: 'random' });
    for (let i = 0; i < 40; i++)
      await agent(
        app,
        `10.1.1.${i + 1}`,
        announceBody(`hard-peer-${String(i).padStart(2, '0')}`, { reachability: HARD }),
      );
    for (let i = 0; i < 4; i++)
      await agent(app, `10.1.2.${i + 1}`, announceBody(`open-peer-${String(i).padStart(2, '0')}`));
    let open = 0;
    let total = 0;
    for (let k = 0; k < 20; k++) {
      const answer = (
        await agent(
          app,
          `10.2.0.${k + 1}`,
          announceBody(`asker-${String(k).padStart(4, '0')}`, { numwant: 10, reachability: HARD }),
        )
      ).json();
      for (const p of answer.peers) {
        total++;
        if (p.deviceId.startsWith('open-')) open++;
      }
    }
    expect(total).toBe(200);
    // 4 open among 44+ peers (about 9 %): one share per reach class would give them over a quarter.
    expect(open / total).toBeLessThan(0.2);
  });
});
