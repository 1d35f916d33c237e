import { afterAll, describe, expect, it } from 'vitest';
import {
  createSimulation,
  type NatOptions,
  natPresets,
  type SimHost,
  type Simulation,
} from '../../lab/sim/index.ts';
import {
  candidatesFromReport as candidatesOf,
  createPuncher,
  createStunServer,
  type PortMapperOptions,
  type PuncherOptions,
  type PunchSession,
  probeReachability,
  type ReachabilityReport,
} from '../../nat/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';

// The same NAT code on lab/sim's network model: RFC 4787 NATs, CGN, gateways with UPnP/NAT-PMP/PCP.

async function world(seed: number) {
  const sim = createSimulation({ seed });
  const eu = sim.addRegion({ name: 'eu' });
  const isp = sim.addIsp({ name: 'isp-a', region: eu });
  const mobile = sim.addIsp({
    name: 'isp-m',
    region: eu,
    cgn: { ...natPresets.cgnEim, filtering: 'address-and-port-dependent', poolSize: 1, pcp: true },
  });
  // One RFC 5780 STUN server spread over two public servers (two IPs) with two ports each.
  const s1 = sim.addServer({ name: 'stun1', region: eu });
  const s2 = sim.addServer({ name: 'stun2', region: eu });
  const bind = async (h: SimHost, port: number) => ({
    channel: await h.udp.bind({ port }),
    address: { host: h.address, port },
  });
  const [a1, a2, b1, b2] = await sim.settle(
    Promise.all([bind(s1, 3478), bind(s1, 3479), bind(s2, 3478), bind(s2, 3479)]),
  );
  createStunServer(
    {},
    { sockets: { primary: a1, changePort: a2, changeIp: b1, changeBoth: b2 }, logger: createSilentLogger() },
  );
  return { sim, eu, isp, mobile, stun: [{ host: s1.address, port: 3478 }] };
}

async function probeOn(
  sim: Simulation,
  host: SimHost,
  stun: Array<{ host: string; port: number }>,
  portMapping: Omit<PortMapperOptions, 'internalPort'> | null = null,
  mappingGraceMs?: number,
) {
  const env = host.env({ logger: createSilentLogger() });
  const socket = await sim.settle(host.udp.bind({ port: 4000 }));
  const started = sim.now();
  const result = await sim.settle(
    probeReachability(
      {
        stun,
        lan: [{ host: host.address, port: 4000 }],
        port: 4000,
        portMapping,
        ...(mappingGraceMs === undefined ? {} : { mappingGraceMs }),
      },
      { ...env, channel: socket },
    ),
  );
  return { socket, env, elapsedMs: sim.now() - started, ...result };
}

const CLASSES: Array<[string, NatOptions]> = [
  ['full cone', natPresets.fullCone],
  ['address-restricted', natPresets.addressRestricted],
  ['port-restricted', natPresets.portRestricted],
  ['symmetric', natPresets.symmetric],
  ['address-dependent mapping', { mapping: 'address-dependent', filtering: 'address-dependent' }],
];

describe('NAT classification on lab/sim', () => {
  for (const [name, nat] of CLASSES)
    it(`classifies ${name}`, async () => {
      const { sim, isp, stun } = await world(1);
      const gw = sim.addGateway({ isp, nat });
      const { report } = await probeOn(sim, sim.addHost({ gateway: gw }), stun);
      expect(report.mapping).toBe(nat.mapping);
      expect(report.filtering).toBe(nat.filtering);
      expect(report.reflexive?.host).toBe(gw.wanAddress);
      expect(report.public).toBe(name === 'full cone');
    });

  it('a public host has no NAT', async () => {
    const { sim, isp, stun } = await world(2);
    const host = sim.addHost({ isp });
    const { report } = await probeOn(sim, host, stun);
    expect(report).toMatchObject({ mapping: 'none', filtering: 'none', public: true });
  });
});

describe('port mapping on lab/sim gateways', () => {
  it('with a mapping grace, a gateway that speaks no mapping protocol does not hold the report', async () => {
    const { sim, isp, stun } = await world(4);
    const gw = sim.addGateway({ isp, nat: natPresets.portRestricted });
    const host = sim.addHost({ gateway: gw });
    const spec = { gateway: gw.lanAddress, internalHost: host.address };
    const waited = await probeOn(sim, host, stun, spec);
    const graced = await probeOn(sim, sim.addHost({ gateway: gw }), stun, spec, 250);
    for (const { report } of [waited, graced]) {
      expect(report.portMapping).toBeNull();
      expect(report.filtering).toBe('address-and-port-dependent');
    }
    // Waiting for the mapper costs every protocol's 2 s timeout; the grace costs at most itself.
    expect(waited.elapsedMs).toBeGreaterThanOrEqual(2000);
    expect(graced.elapsedMs).toBeLessThan(waited.elapsedMs - 1000);
  });

  it('maps with PCP on a home gateway and reports it reachable; releases it', async () => {
    const { sim, isp, stun } = await world(3);
    const gw = sim.addGateway({
      isp,
      nat: natPresets.portRestricted,
      portMapping: { upnp: true, natPmp: true, pcp: true },
    });
    const host = sim.addHost({ gateway: gw });
    const { report, mapper } = await probeOn(sim, host, stun, {
      gateway: gw.lanAddress,
      internalHost: host.address,
    });
    expect(report.portMapping).toMatchObject({
      protocol: 'pcp',
      reachable: true,
      external: { host: gw.wanAddress },
    });
    expect(report.public).toBe(true);
    await sim.settle(mapper!.stop());
    expect(mapper!.current().mapping).toBeNull();
  });

  for (const [protocol, version, expected] of [
    ['upnp', 1, 'upnp-igd1'],
    ['upnp', 2, 'upnp-igd2'],
    ['nat-pmp', 2, 'nat-pmp'],
  ] as const)
    it(`maps with ${expected} alone`, async () => {
      const { sim, isp, stun } = await world(4);
      const gw = sim.addGateway({ isp, portMapping: { upnp: { version }, natPmp: true } });
      const host = sim.addHost({ gateway: gw });
      const { report, mapper } = await probeOn(sim, host, stun, {
        gateway: gw.lanAddress,
        internalHost: host.address,
        protocols: [protocol],
      });
      expect(report.portMapping?.protocol).toBe(expected);
      expect(report.portMapping?.reachable).toBe(true);
      await sim.settle(mapper!.stop());
    });

  it('behind a CGN: mapped but not reachable; PCP at the CGN then makes it reachable', async () => {
    const { sim, mobile, stun } = await world(5);
    const gw = sim.addGateway({ isp: mobile, portMapping: { natPmp: true } });
    const host = sim.addHost({ gateway: gw });
    const plain = await probeOn(sim, host, stun, { gateway: gw.lanAddress, internalHost: host.address });
    expect(plain.report.portMapping).toMatchObject({ protocol: 'nat-pmp', reachable: false });
    expect(plain.report.portMapping?.external.host).toMatch(/^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./);
    expect(plain.report.public).toBe(false);
    expect(plain.report.errors.join()).toMatch(/mapped but not reachable/);
    await sim.settle(plain.mapper!.stop());
    await sim.settle(plain.socket.close());

    const upstream = await probeOn(sim, host, stun, {
      gateway: gw.lanAddress,
      internalHost: host.address,
      upstreamPcp: ['100.64.0.1'],
    });
    expect(upstream.report.portMapping).toMatchObject({ protocol: 'pcp', reachable: true });
    expect(upstream.report.public).toBe(true);
  });
});

// ---- the pair matrix ----

type Kind = 'public' | 'full-cone' | 'restricted' | 'port-restricted' | 'symmetric';
const KINDS: Kind[] = ['public', 'full-cone', 'restricted', 'port-restricted', 'symmetric'];
const PRESET: Record<Exclude<Kind, 'public'>, NatOptions> = {
  'full-cone': natPresets.fullCone,
  restricted: natPresets.addressRestricted,
  'port-restricted': natPresets.portRestricted,
  symmetric: natPresets.symmetric,
};
const possible = (a: Kind, b: Kind): boolean => {
  const bad = (x: Kind, y: Kind) => x === 'symmetric' && (y === 'symmetric' || y === 'port-restricted');
  return !(bad(a, b) || bad(b, a));
};

interface Side {
  report: ReachabilityReport;
  puncher: ReturnType<typeof createPuncher>;
}

async function side(
  sim: Simulation,
  host: SimHost,
  stun: Array<{ host: string; port: number }>,
  options: PuncherOptions = {},
): Promise<Side> {
  const { report, socket, env } = await probeOn(sim, host, stun);
  return { report, puncher: createPuncher(options, { ...env, port: socket }) };
}

async function punch(sim: Simulation, a: Side, b: Side) {
  const session = sim.random('session').bytes(8);
  const start = sim.now();
  const run = (x: Side, y: Side) =>
    x.puncher
      .punch({
        session,
        local: candidatesOf(x.report),
        remote: candidatesOf(y.report),
        localMapping: x.report.mapping,
        remoteMapping: y.report.mapping,
      })
      .then(
        (s: PunchSession) => ({ ok: true as const, s }),
        (e: Error) => ({ ok: false as const, e }),
      );
  const [ra, rb] = await sim.settle(Promise.all([run(a, b), run(b, a)]));
  return { ra, rb, elapsed: sim.now() - start };
}

const matrix: string[] = [];
afterAll(() => {
  if (matrix.length)
    console.log(
      `\nlab/sim punch matrix (virtual time; broadband links 10 ms + ISP/region hops):\n${matrix.join('\n')}`,
    );
});

describe('hole-punch pair matrix on lab/sim', () => {
  for (const [i, a] of KINDS.entries())
    for (const b of KINDS.slice(i))
      it(`${a} <-> ${b}`, async () => {
        const { sim, eu, stun } = await world(10 + i);
        const ispA = sim.addIsp({ name: 'home-a', region: eu });
        const ispB = sim.addIsp({ name: 'home-b', region: eu });
        const hostFor = (k: Kind, isp: typeof ispA) =>
          k === 'public'
            ? sim.addHost({ isp })
            : sim.addHost({ gateway: sim.addGateway({ isp, nat: PRESET[k] }) });
        const sa = await side(sim, hostFor(a, ispA), stun);
        const sb = await side(sim, hostFor(b, ispB), stun);
        const { ra, rb, elapsed } = await punch(sim, sa, sb);
        const ok = ra.ok && rb.ok;
        expect(ok).toBe(possible(a, b));
        if (ok) {
          const t = Math.max(ra.s.elapsedMs, rb.s.elapsedMs);
          expect(t).toBeLessThan(1000);
          matrix.push(`${a.padEnd(16)} ${b.padEnd(16)} connected ${String(Math.round(t)).padStart(5)} ms`);
        } else {
          expect(elapsed).toBeLessThan(3000);
          expect(ra.ok ? '' : ra.e.message).toMatch(/symmetric/);
          matrix.push(`${a.padEnd(16)} ${b.padEnd(16)} failed    ${String(elapsed).padStart(5)} ms`);
        }
      });

  it('two subscribers of one CGN connect when it hairpins, not when it does not', async () => {
    for (const hairpinning of [true, false]) {
      const { sim, eu, stun } = await world(30);
      const isp = sim.addIsp({
        name: 'cgn-isp',
        region: eu,
        cgn: { ...natPresets.cgnEim, filtering: 'address-and-port-dependent', hairpinning, poolSize: 1 },
      });
      const a = await side(
        sim,
        sim.addHost({ gateway: sim.addGateway({ isp, nat: natPresets.portRestricted }) }),
        stun,
      );
      const b = await side(
        sim,
        sim.addHost({ gateway: sim.addGateway({ isp, nat: natPresets.portRestricted }) }),
        stun,
      );
      const { ra, rb, elapsed } = await punch(sim, a, b);
      expect(ra.ok && rb.ok).toBe(hairpinning);
      matrix.push(
        `CGN subscribers (hairpin ${hairpinning ? 'on' : 'off'})  ${ra.ok && rb.ok ? `connected ${Math.round(ra.s.elapsedMs)} ms` : `failed    ${elapsed} ms`}`,
      );
    }
  });

  it('birthday probing (opt-in) connects port-restricted <-> a symmetric NAT that allocates ports in sequence', async () => {
    const outcome = async (birthday: boolean) => {
      const { sim, eu, stun } = await world(32);
      const easyIsp = sim.addIsp({ name: 'easy', region: eu });
      const hardIsp = sim.addIsp({ name: 'hard', region: eu });
      const easyHost = sim.addHost({
        gateway: sim.addGateway({ isp: easyIsp, nat: natPresets.portRestricted }),
      });
      const hardHost = sim.addHost({
        gateway: sim.addGateway({
          isp: hardIsp,
          nat: { ...natPresets.symmetric, portAssignment: 'sequential' },
        }),
      });
      const easy = await side(
        sim,
        easyHost,
        stun,
        birthday ? { birthday: { enabled: true, maxProbes: 64 } } : {},
      );
      const hard = await side(sim, hardHost, stun);
      const { ra, rb } = await punch(sim, easy, hard);
      return ra.ok && rb.ok ? Math.round(ra.s.elapsedMs) : null;
    };
    expect(await outcome(false)).toBeNull();
    const t = await outcome(true);
    expect(t).not.toBeNull();
    matrix.push(
      `port-restricted <-> sequential symmetric with birthday probing: connected in ${t} ms (without: failed)`,
    );
  });

  it('two devices behind one home gateway connect over LAN candidates', async () => {
    const { sim, isp, stun } = await world(31);
    const gw = sim.addGateway({ isp, nat: { ...natPresets.symmetric, hairpinning: false } });
    const a = await side(sim, sim.addHost({ gateway: gw }), stun);
    const b = await side(sim, sim.addHost({ gateway: gw }), stun);
    const { ra, rb } = await punch(sim, a, b);
    expect(ra.ok && rb.ok).toBe(true);
    if (ra.ok) {
      expect(ra.s.via).toBe('host');
      matrix.push(
        `same home (symmetric, no hairpin): connected over LAN in ${Math.round(ra.s.elapsedMs)} ms`,
      );
    }
  });
});
