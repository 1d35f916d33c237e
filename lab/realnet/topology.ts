/**
 * A scenario's network as real namespaces (one flat "internet" switch; ISPs are /24s on it):
 *
 *   inet (11.0.0.1: store, tracker, CDN, edges, coturn) ── br0 (11.0.0.0/16)
 *     ├─ public device           11.0.<isp+1>.<n>/16                 (through its emulated access wire)
 *     ├─ home router r<h>  wan0  11.0.<isp+1>.<n>/16 ── lan0 10.<h+1>.0.1/24 ── devices 10.<h+1>.0.<k+2>
 *     └─ CGN c<i>          wan0  11.0.<i+1>.250/16 ── cgnlan 100.64.<i>.1/24
 *                                   └─ home router r<h>  wan0 100.64.<i>.<n>/24 ── lan0 ... (NAT444)
 *
 * Home routers and CGNs are nftables NATs (lab/netns routerRuleset: masquerade with conntrack
 * filtering, `fully-random` for symmetric), with an input-drop policy; routers with port mapping run
 * miniupnpd (IGD v2 + NAT-PMP/PCP); an "open port" is a static DNAT of the agent's ports. Each device's
 * access link is an emulated wire (link.ts) with the scenario's rates, delay and loss.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  hasBinary,
  miniupnpdConfig,
  type Namespace,
  type NatKind,
  type NetnsLab,
  routerRuleset,
} from '../netns/index.ts';
import type { DeviceGroup, IspSpec, Scenario } from '../scenario/schema.ts';
import { RealnetError } from './errors.ts';
import { emulatedWire, plainBridging } from './link.ts';

export const INET_IP = '11.0.0.1';
/**
 * Device i's UDP port (agent PZ socket) and TCP port (BitTorrent listener, aria2c). Distinct per
 * device so that several devices of one home can each have an "open port" forwarded on the router.
 */
export const agentUdpPort = (device: number): number => 20000 + device;
export const agentTcpPort = (device: number): number => 30000 + device;

export interface RealDevice {
  index: number;
  name: string;
  ns: Namespace;
  ip: string;
  group: DeviceGroup;
  isp: IspSpec;
  natClass: string;
  behindCgn: boolean;
  downBps: number;
  upBps: number;
}

export interface RealTopology {
  inet: Namespace;
  devices: RealDevice[];
  /** Tracker prefix table rows: cidr,asn,isp,region. */
  prefixes: string[];
  /** miniupnpd daemons started (one per router with port mapping). */
  upnpRouters: number;
}

interface Home {
  router: Namespace;
  lanPrefix: string;
  wanIp: string;
  devices: number;
}

function natKind(nat: DeviceGroup['nat']): NatKind {
  // nftables masquerade gives endpoint-independent mapping with address-and-port-dependent filtering;
  // full-cone and address-restricted are approximated by it (the closest a stock router gets).
  return nat === 'symmetric' ? 'symmetric' : 'port-restricted';
}

/** A deterministic stream in [0, 1) from the scenario seed (placement of homes behind CGNs). */
function seeded(seed: number): () => number {
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

export async function buildRealTopology(
  lab: NetnsLab,
  scenario: Scenario,
  options: { workDir: string; onStep?: (what: string) => void },
): Promise<RealTopology> {
  const random = seeded(scenario.seed);
  const inet = await lab.namespace('inet');
  await plainBridging(inet);
  const switchPorts: string[] = [];
  let portIndex = 0;
  const attachToInternet = async (ns: Namespace, ifname: string, cidr: string): Promise<void> => {
    const port = `p${portIndex++}`;
    await lab.veth(inet, port, ns, ifname);
    switchPorts.push(port);
    await ns.addAddress(ifname, cidr);
  };
  const ispIndex = new Map(scenario.isps.map((isp, i) => [isp.name, i]));
  const nextHost = new Map<number, number>(); // per ISP /24: next free host number
  const publicAddress = (isp: number): string => {
    const n = nextHost.get(isp) ?? 2;
    if (n >= 250) throw new RealnetError('TOPOLOGY_TOO_LARGE', `ISP ${isp} has more than 248 public hosts`);
    nextHost.set(isp, n + 1);
    return `11.0.${isp + 1}.${n}`;
  };
  const prefixes = scenario.isps.map((isp, i) => `11.0.${i + 1}.0/24,${isp.asn},${isp.name},${isp.region}`);

  // CGNs, made on first use.
  const cgns = new Map<number, { ns: Namespace; inside: string[]; next: number }>();
  const cgnFor = async (i: number, spec: IspSpec) => {
    let cgn = cgns.get(i);
    if (cgn) return cgn;
    const ns = await lab.namespace(`c${i}`);
    await plainBridging(ns);
    await attachToInternet(ns, 'wan0', `11.0.${i + 1}.250/16`);
    await ns.sysctl('net.ipv4.ip_forward', '1');
    await ns.exec('ip', ['link', 'add', 'cgnlan', 'type', 'bridge']);
    await ns.up('cgnlan');
    await ns.addAddress('cgnlan', `100.64.${i}.1/24`);
    const kind: NatKind = spec.cgn.mapping === 'endpoint-independent' ? 'port-restricted' : 'symmetric';
    await ns.nft(routerRuleset(kind, 'wan0', 'cgnlan'));
    cgn = { ns, inside: [], next: 2 };
    cgns.set(i, cgn);
    return cgn;
  };

  const homes = new Map<string, Home>();
  let homeCount = 0;
  let upnpRouters = 0;
  const makeHome = async (group: DeviceGroup, isp: IspSpec, behindCgn: boolean): Promise<Home> => {
    const h = homeCount++;
    const i = ispIndex.get(isp.name)!;
    const router = await lab.namespace(`r${h}`);
    await plainBridging(router);
    let wanIp: string;
    if (behindCgn) {
      const cgn = await cgnFor(i, isp);
      const inside = `h${h}`;
      await lab.veth(cgn.ns, inside, router, 'wan0');
      await cgn.ns.exec('ip', ['link', 'set', inside, 'master', 'cgnlan']);
      wanIp = `100.64.${i}.${cgn.next++}`;
      await router.addAddress('wan0', `${wanIp}/24`);
      await router.defaultRoute(`100.64.${i}.1`);
    } else {
      wanIp = publicAddress(i);
      await attachToInternet(router, 'wan0', `${wanIp}/16`);
    }
    const lanPrefix = `10.${h + 1}.0`;
    await router.exec('ip', ['link', 'add', 'lan0', 'type', 'bridge']);
    await router.up('lan0');
    await router.addAddress('lan0', `${lanPrefix}.1/24`);
    await router.sysctl('net.ipv4.ip_forward', '1');
    await router.nft(routerRuleset(natKind(group.nat), 'wan0', 'lan0'));
    if (group.portMapping && hasBinary('miniupnpd')) {
      const conf = join(options.workDir, `miniupnpd-r${h}.conf`);
      writeFileSync(
        conf,
        miniupnpdConfig({
          uuid: `00000000-0000-4000-8000-${String(h).padStart(12, '0')}`,
          lanNet: `${lanPrefix}.0/24`,
        }),
      );
      router.spawn('miniupnpd', ['-d', '-f', conf]);
      upnpRouters++;
    }
    // Hairpin for forwarded ports: LAN devices reaching a neighbour at the public address.
    await router.nft(
      `add rule inet filter postrouting_miniupnpd ip saddr ${lanPrefix}.0/24 ip daddr ${lanPrefix}.0/24 ct status dnat masquerade\n`,
    );
    return { router, lanPrefix, wanIp, devices: 0 };
  };

  const devices: RealDevice[] = [];
  for (const group of scenario.devices) {
    const isp = scenario.isps.find((s) => s.name === group.isp)!;
    const i = ispIndex.get(isp.name)!;
    let current: Home | undefined;
    for (let k = 0; k < group.count; k++) {
      const index = devices.length;
      const name = `d${index}`;
      options.onStep?.(`device ${name}`);
      const ns = await lab.namespace(name);
      const profile = {
        rateToBBps: group.link.downMbps * 1e6,
        rateToABps: group.link.upMbps * 1e6,
        rttMs: 2 * group.link.delayMs,
        loss: group.link.loss,
      };
      let ip: string;
      let natClass: string;
      let behindCgn = false;
      if (group.nat === 'public') {
        ip = publicAddress(i);
        const port = `p${portIndex++}`;
        await emulatedWire(lab, String(index), inet, port, ns, 'eth0', profile);
        switchPorts.push(port);
        await ns.addAddress('eth0', `${ip}/16`);
        natClass = 'public';
      } else {
        // Homes: a named home is shared by every group naming it; otherwise `perHome` devices each.
        const homeKey = group.home ?? `${scenario.devices.indexOf(group)}-${Math.floor(k / group.perHome)}`;
        current = homes.get(homeKey);
        if (!current) {
          behindCgn = isp.cgnShare > 0 && random() < isp.cgnShare;
          current = await makeHome(group, isp, behindCgn);
          homes.set(homeKey, current);
        } else {
          behindCgn = (await current.router.exec('ip', ['-4', 'addr', 'show', 'wan0'])).includes('100.64.');
        }
        const home = current;
        ip = `${home.lanPrefix}.${home.devices + 2}`;
        home.devices++;
        const port = `l${index}`;
        await emulatedWire(lab, String(index), home.router, port, ns, 'eth0', profile);
        await home.router.exec('ip', ['link', 'set', port, 'master', 'lan0']);
        await ns.addAddress('eth0', `${ip}/24`);
        await ns.defaultRoute(`${home.lanPrefix}.1`);
        if (group.openPort) await openPort(home.router, home.wanIp, ip, index);
        natClass = `${group.nat}${group.portMapping ? '+upnp' : ''}${group.openPort ? '+open' : ''}${behindCgn ? '+cgn' : ''}`;
      }
      devices.push({
        index,
        name,
        ns,
        ip,
        group,
        isp,
        natClass,
        behindCgn,
        downBps: group.link.downMbps * 1e6,
        upBps: group.link.upMbps * 1e6,
      });
    }
  }
  await lab.bridge(inet, 'br0', switchPorts);
  await inet.addAddress('br0', `${INET_IP}/16`);
  return { inet, devices, prefixes, upnpRouters };
}

/**
 * A static port forward of a device's UDP and TCP ports on its home router: the thesis' "open port".
 * Matched on the router's WAN address (not only the WAN interface) so it also hairpins from the LAN.
 */
async function openPort(router: Namespace, wanIp: string, deviceIp: string, device: number): Promise<void> {
  const udp = agentUdpPort(device);
  const tcp = agentTcpPort(device);
  const rules = [
    `add rule inet filter prerouting_miniupnpd ip daddr ${wanIp} udp dport ${udp} dnat ip to ${deviceIp}:${udp}`,
    `add rule inet filter prerouting_miniupnpd ip daddr ${wanIp} tcp dport ${tcp} dnat ip to ${deviceIp}:${tcp}`,
    `add rule inet filter miniupnpd ip daddr ${deviceIp} udp dport ${udp} accept`,
    `add rule inet filter miniupnpd ip daddr ${deviceIp} tcp dport ${tcp} accept`,
  ];
  await router.nft(`${rules.join('\n')}\n`);
}
