import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildNatTopology,
  bundleScript,
  createNetnsLab,
  hasBinary,
  type LabProcess,
  miniupnpdConfig,
  type NatTopology,
  type NetnsLab,
  netnsSupport,
  STUN_PRIMARY,
  STUN_SECONDARY,
} from '../../../lab/netns/index.ts';
import {
  candidatesOf,
  mappingRules,
  type Peer,
  type ProbeAnswer,
  startMiniupnpd,
  startPeer,
  tempDir,
} from './support.ts';

// Real kernel NAT: namespaces, veth, nftables masquerade, miniupnpd and coturn. Root only.
const support = netnsSupport();
const tools = ['nft', 'miniupnpd', 'turnserver'].filter((b) => !hasBinary(b));
const skipReason = !support.ok ? support.reason : tools.length ? `missing ${tools.join(', ')}` : null;
if (skipReason) console.warn(`skipping real-kernel NAT tests: ${skipReason}`);

const COTURN = `${STUN_PRIMARY}:3478`;
const OURS = `${STUN_PRIMARY}:3480`;
const PORT = 4000;

describe.skipIf(skipReason !== null)('NAT traversal through real kernel NAT (network namespaces)', () => {
  let lab: NetnsLab;
  let topo: NatTopology;
  const peers: Record<string, Peer> = {};
  const results: string[] = [];
  const scripts: string[] = [];
  let cliScript = '';
  let labDir = '';
  let miniupnpdA: LabProcess | undefined;

  beforeAll(async () => {
    lab = await createNetnsLab();
    try {
      topo = await buildNatTopology(lab, {
        homes: { a: 'port-restricted', b: 'port-restricted', s: 'symmetric', t: 'symmetric' },
        behindCgn: { c: 'port-restricted' },
      });
      const dir = tempDir();
      // coturn: plain STUN with RFC 5780 (two IPs, alternate port), no TURN, no auth, no TLS.
      topo.stun.spawn('turnserver', [
        '-n',
        '--stun-only',
        '--no-auth',
        '-L',
        STUN_PRIMARY,
        '-L',
        STUN_SECONDARY,
        '-p',
        '3478',
        '--alt-listening-port',
        '3479',
        '--no-tls',
        '--no-dtls',
        '--no-cli',
        '--log-file',
        'stdout',
        '--simple-log',
        '--pidfile',
        `${dir}/turnserver.pid`,
      ]);
      const [peerScript, stunScript, cli] = await Promise.all([
        bundleScript('lab/netns/agents/nat-peer.ts'),
        bundleScript('lab/netns/agents/stun-server.ts'),
        bundleScript('lab/netns/agents/nat-cli.ts'),
      ]);
      cliScript = cli;
      scripts.push(peerScript, stunScript, cli);
      const ours = topo.stun.spawn('node', [stunScript, OURS, `${STUN_SECONDARY}:3481`]);
      await ours.waitForLine((l) => (l === 'ready' ? true : undefined), 30_000);
      labDir = dir;
      miniupnpdA = await startMiniupnpd(
        topo.sites.a!.router,
        dir,
        'mu-a',
        miniupnpdConfig({ uuid: '5a1a0000-0000-4000-8000-00000000000a', lanNet: '192.168.1.0/24' }),
      );
      await startMiniupnpd(
        topo.sites.c!.router,
        dir,
        'mu-c',
        miniupnpdConfig({ uuid: '5a1a0000-0000-4000-8000-00000000000c', lanNet: '192.168.5.0/24' }),
      );
      const started = await Promise.all(
        [
          ...Object.entries(topo.sites).map(([k, s]) => [k, s.device] as const),
          ['pub', topo.pub] as const,
        ].map(async ([k, ns]) => [k, await startPeer(ns, PORT)] as const),
      );
      for (const [k, p] of started) peers[k] = p;
    } catch (error) {
      await lab.teardown();
      throw error;
    }
  }, 120_000);

  afterAll(async () => {
    await lab?.teardown();
    for (const script of scripts) rmSync(script, { force: true });
    if (labDir) rmSync(labDir, { recursive: true, force: true });
    if (results.length) console.log(`\nreal-kernel NAT results:\n${results.join('\n')}`);
  }, 60_000);

  const probe = (key: string, map: Record<string, unknown> | null, stun = [COTURN]) => {
    const site = topo.sites[key];
    const lan = site ? [site.deviceIp] : [topo.pubIp];
    // 1 s per STUN transaction: lab links are instant, and the filtering tests wait out their timeouts.
    return peers[key]!.request<ProbeAnswer>({ cmd: 'probe', stun, lan, map, stunTimeoutMs: 1000 }, 'probe');
  };

  // Probing (RFC 5780 filtering tests wait out their timeouts) costs ~2 s: do each device once.
  const probed = new Map<string, Promise<ProbeAnswer>>();
  const probeOnce = (key: string) => {
    if (!probed.has(key)) probed.set(key, probe(key, null));
    return probed.get(key)!;
  };

  it('coturn and our STUN server agree on the reflexive address, and both classify the NATs', async () => {
    for (const key of ['a', 's']) {
      const viaCoturn = await peers[key]!.request<{ reflexive: unknown }>(
        { cmd: 'binding', server: COTURN },
        'binding',
      );
      const viaOurs = await peers[key]!.request<{ reflexive: unknown }>(
        { cmd: 'binding', server: OURS },
        'binding',
      );
      if (key === 'a') expect(viaOurs.reflexive).toEqual(viaCoturn.reflexive);
      else
        expect((viaOurs.reflexive as { host: string }).host).toBe(
          (viaCoturn.reflexive as { host: string }).host,
        );
      results.push(
        `reflexive ${key}: coturn ${JSON.stringify(viaCoturn.reflexive)} ours ${JSON.stringify(viaOurs.reflexive)}`,
      );
    }
    // One request in flight per peer: answers are matched by event name only.
    probed.set('s', probe('s', null, [OURS]));
    for (const key of ['a', 'b', 't', 'pub']) void probeOnce(key);
    const [a, s, pub] = await Promise.all([probeOnce('a'), probeOnce('s'), probeOnce('pub')]);
    expect(a.report).toMatchObject({
      mapping: 'endpoint-independent',
      filtering: 'address-and-port-dependent',
      public: false,
    });
    expect(s.report).toMatchObject({
      mapping: 'address-and-port-dependent',
      filtering: 'address-and-port-dependent',
    });
    expect(pub.report).toMatchObject({ mapping: 'none', public: true });
    results.push(
      `classification: a=${a.report.mapping}/${a.report.filtering} s=${s.report.mapping}/${s.report.filtering} pub=${pub.report.mapping}/${pub.report.filtering}`,
    );
  });

  for (const protocol of ['upnp', 'nat-pmp', 'pcp'] as const)
    it(`${protocol}: mapping created, visible in nft, renewed, removed on shutdown (miniupnpd)`, async () => {
      const router = topo.sites.a!.router;
      const peer = peers.a!;
      const answer = await probe(
        'a',
        {
          gateway: '192.168.1.1',
          internalHost: '192.168.1.2',
          protocols: [protocol],
          leaseSec: 2,
        },
        [], // mapping only: NAT classification was covered above
      );
      expect(answer.mapping?.protocol).toBe(protocol === 'upnp' ? 'upnp-igd2' : protocol);
      expect(answer.report.portMapping).toMatchObject({
        external: { host: topo.sites.a!.wan },
        reachable: true,
      });
      expect(answer.report.public).toBe(true);
      expect(mappingRules(await router.ruleset(), `192.168.1.2:${PORT}`)).toHaveLength(1);
      // Lease 2 s, renewed at half-life: 3.2 s later (past the first lease) it must still be there,
      // renewed at least twice.
      await new Promise((r) => setTimeout(r, 3200));
      const state = await peer.request<{ renewals: number }>({ cmd: 'state' }, 'state');
      expect(state.renewals).toBeGreaterThanOrEqual(2);
      expect(mappingRules(await router.ruleset(), `192.168.1.2:${PORT}`)).toHaveLength(1);
      await peer.request({ cmd: 'unmap' }, 'unmapped');
      expect(mappingRules(await router.ruleset(), `192.168.1.2:${PORT}`)).toHaveLength(0);
      results.push(
        `${protocol}: mapped ${JSON.stringify(answer.mapping?.external)}, renewed ${state.renewals}x, removed`,
      );
    }, 30_000);

  it('upnp against an IGD v1 description (older routers): mapped with AddPortMapping, removed', async () => {
    const router = topo.sites.a!.router;
    await miniupnpdA?.stop();
    const v1 = await startMiniupnpd(
      router,
      labDir,
      'mu-a-v1',
      miniupnpdConfig({
        uuid: '5a1a0000-0000-4000-8000-0000000000a1',
        lanNet: '192.168.1.0/24',
        igdV1: true,
      }),
    );
    try {
      const answer = await probe(
        'a',
        { gateway: '192.168.1.1', internalHost: '192.168.1.2', protocols: ['upnp'], leaseSec: 60 },
        [],
      );
      expect(answer.mapping?.protocol).toBe('upnp-igd1');
      expect(mappingRules(await router.ruleset(), `192.168.1.2:${PORT}`)).toHaveLength(1);
      await peers.a!.request({ cmd: 'unmap' }, 'unmapped');
      expect(mappingRules(await router.ruleset(), `192.168.1.2:${PORT}`)).toHaveLength(0);
      results.push(`upnp (IGD v1 description): mapped ${JSON.stringify(answer.mapping?.external)}, removed`);
    } finally {
      await v1.stop();
      miniupnpdA = await startMiniupnpd(
        router,
        labDir,
        'mu-a',
        miniupnpdConfig({ uuid: '5a1a0000-0000-4000-8000-00000000000a', lanNet: '192.168.1.0/24' }),
      );
    }
  }, 30_000);

  it('`swarmlane nat probe` maps through the default gateway, prints it, and releases it before exiting', async () => {
    const device = topo.sites.a!.device;
    const cli = device.spawn('node', [
      cliScript,
      'nat',
      'probe',
      '--stun',
      COTURN,
      '--port',
      '4100',
      '--json',
      '--timeout',
      '1000',
    ]);
    await new Promise<void>((resolve) => cli.child.once('exit', () => resolve()));
    expect(cli.child.exitCode).toBe(0);
    const report = JSON.parse(cli.output().trim().split('\n').at(-1)!) as ProbeAnswer['report'];
    expect(report.portMapping).toMatchObject({
      protocol: 'pcp',
      external: { host: topo.sites.a!.wan, port: 4100 },
    });
    expect(report.lan).toContainEqual({ host: '192.168.1.2', port: 4100 });
    expect(mappingRules(await topo.sites.a!.router.ruleset(), '192.168.1.2:4100')).toHaveLength(0);
    results.push(`CLI: nat probe mapped ${JSON.stringify(report.portMapping)} and left no rule behind`);
  }, 30_000);

  it('behind a CGN the gateway has no public address: not reachable, NAT444 named', async () => {
    const answer = await probe('c', { gateway: '192.168.5.1', internalHost: '192.168.5.2', leaseSec: 60 });
    expect(answer.report.public).toBe(false);
    expect(answer.report.portMapping === null || answer.report.portMapping.reachable === false).toBe(true);
    expect(answer.report.errors.join('\n')).toMatch(/NAT444/);
    expect(answer.report.reflexive?.host).toBe(topo.cgnWan);
    results.push(
      `CGN: public=${answer.report.public} portMapping=${JSON.stringify(answer.report.portMapping)} note="${answer.report.errors.find((e) => e.includes('NAT444'))}"`,
    );
  }, 30_000);

  const punch = async (x: string, y: string) => {
    const [px, py] = await Promise.all([probeOnce(x), probeOnce(y)]);
    const session = randomBytes(8).toString('hex');
    const command = (self: ProbeAnswer, other: ProbeAnswer) => ({
      cmd: 'punch',
      session,
      local: candidatesOf(self.report),
      remote: candidatesOf(other.report),
      localMapping: self.report.mapping,
      remoteMapping: other.report.mapping,
    });
    type Outcome = { ok: boolean; elapsedMs: number | null; error?: string; remote?: unknown };
    const [rx, ry] = await Promise.all([
      peers[x]!.request<Outcome>(command(px, py), 'punch'),
      peers[y]!.request<Outcome>(command(py, px), 'punch'),
    ]);
    results.push(
      `punch ${x}(${px.report.mapping}) <-> ${y}(${py.report.mapping}): ${rx.ok && ry.ok ? `connected in ${Math.max(rx.elapsedMs ?? 0, ry.elapsedMs ?? 0)} ms` : `failed: ${rx.error ?? ry.error}`}`,
    );
    return { rx, ry };
  };

  it('port-restricted <-> port-restricted punches through real nftables NAT', async () => {
    const { rx, ry } = await punch('a', 'b');
    expect(rx.ok && ry.ok).toBe(true);
    expect(rx.elapsedMs).toBeLessThan(3000);
  }, 30_000);

  it('port-restricted <-> public punches', async () => {
    const { rx, ry } = await punch('b', 'pub');
    expect(rx.ok && ry.ok).toBe(true);
  }, 30_000);

  it('symmetric <-> public punches; port-restricted <-> symmetric fails as RFC 4787 predicts', async () => {
    const open = await punch('s', 'pub');
    expect(open.rx.ok && open.ry.ok).toBe(true);
    const closed = await punch('a', 't');
    expect(closed.rx.ok || closed.ry.ok).toBe(false);
    expect(closed.rx.error).toMatch(/symmetric/);
  }, 30_000);

  it('with a PCP mapping, port-restricted <-> symmetric connects through the mapped candidate', async () => {
    const mapped = await probe(
      'a',
      { gateway: '192.168.1.1', internalHost: '192.168.1.2', protocols: ['pcp'], leaseSec: 60 },
      [],
    );
    expect(mapped.report.portMapping?.reachable).toBe(true);
    try {
      const other = await probeOnce('t');
      const session = randomBytes(8).toString('hex');
      const aCandidates = candidatesOf(mapped.report);
      expect(aCandidates[0]?.type).toBe('mapped');
      type Outcome = { ok: boolean; elapsedMs: number | null; error?: string; via?: string };
      const [ra, rt] = await Promise.all([
        peers.a!.request<Outcome>(
          {
            cmd: 'punch',
            session,
            local: aCandidates,
            remote: candidatesOf(other.report),
            localMapping: 'endpoint-independent',
            remoteMapping: other.report.mapping,
          },
          'punch',
        ),
        peers.t!.request<Outcome>(
          {
            cmd: 'punch',
            session,
            local: candidatesOf(other.report),
            remote: aCandidates,
            localMapping: other.report.mapping,
            remoteMapping: 'endpoint-independent',
          },
          'punch',
        ),
      ]);
      expect(ra.ok && rt.ok).toBe(true);
      expect(rt.via).toBe('mapped');
      results.push(
        `punch a(port-restricted + PCP mapping) <-> t(symmetric): connected in ${Math.max(ra.elapsedMs ?? 0, rt.elapsedMs ?? 0)} ms via ${rt.via}`,
      );
    } finally {
      await peers.a!.request({ cmd: 'unmap' }, 'unmapped');
    }
  }, 30_000);

  it('symmetric <-> symmetric fails fast with a reason', async () => {
    const started = Date.now();
    const { rx, ry } = await punch('s', 't');
    expect(rx.ok || ry.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(rx.error).toMatch(/symmetric/);
  }, 30_000);
});
