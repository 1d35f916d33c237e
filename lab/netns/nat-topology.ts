/**
 * A NAT lab in namespaces: one "internet" switch (11.0.0.0/24: public-looking but not reserved, so
 * miniupnpd accepts it; the lab has no link to the host, so nothing leaves the machine), a STUN
 * namespace with two addresses (RFC 5780), public hosts, home routers doing nftables NAT, and an
 * optional carrier-grade NAT with 100.64/10 inside.
 *
 *   stun (11.0.0.100 + .101) ─┐
 *   pub  (11.0.0.200)        ─┤ inet: br0 ├─ router a (11.0.0.10) ── lan 192.168.1.0/24 ── device a
 *                             ├─ router b (11.0.0.20) ── lan 192.168.2.0/24 ── device b
 *                             └─ cgn (11.0.0.30) ── 100.64.0.0/24 ── router c (100.64.0.2) ── 192.168.3.0/24 ── device c
 */
import type { Namespace, NetnsLab } from './netns.ts';

export type NatKind = 'port-restricted' | 'symmetric';

export const WAN_PREFIX = '11.0.0';
export const STUN_PRIMARY = `${WAN_PREFIX}.100`;
export const STUN_SECONDARY = `${WAN_PREFIX}.101`;

/**
 * nftables for a NAT router. Masquerade keeps the source port when it can (endpoint-independent
 * mapping in practice) and conntrack only lets exact replies in (address-and-port-dependent
 * filtering): a port-restricted cone. `fully-random` picks a new port per flow: symmetric. The input
 * chain drops unsolicited traffic, or a punch packet aimed at the router would create a conntrack
 * entry of its own. Chains for miniupnpd (table inet filter, its default names) are always there.
 */
export function routerRuleset(kind: NatKind, wan: string, lan: string): string {
  return `flush ruleset
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iifname "lo" accept
    iifname "${lan}" accept
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "${lan}" oifname "${wan}" accept
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "${wan}" masquerade${kind === 'symmetric' ? ' fully-random' : ''}
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
`;
}

export interface Site {
  router: Namespace;
  device: Namespace;
  /** Router's WAN address. */
  wan: string;
  lanGateway: string;
  deviceIp: string;
}

export interface NatTopology {
  inet: Namespace;
  stun: Namespace;
  pub: Namespace;
  pubIp: string;
  sites: Record<string, Site>;
  cgn?: Namespace;
  cgnWan?: string;
}

export interface TopologySpec {
  /** Home sites directly on the internet, e.g. { a: 'port-restricted', b: 'symmetric' }. */
  homes: Record<string, NatKind>;
  /** Home sites behind one CGN (port-restricted CGN), e.g. { c: 'port-restricted' }. */
  behindCgn?: Record<string, NatKind>;
}

export async function buildNatTopology(lab: NetnsLab, spec: TopologySpec): Promise<NatTopology> {
  const inet = await lab.namespace('inet');
  const ports: string[] = [];
  let port = 0;
  const attach = async (ns: Namespace, ifname: string, addresses: string[]): Promise<void> => {
    const switchPort = `p${port++}`;
    await lab.veth(inet, switchPort, ns, ifname);
    ports.push(switchPort);
    for (const a of addresses) await ns.addAddress(ifname, `${a}/24`);
  };
  const stun = await lab.namespace('stun');
  await attach(stun, 'eth0', [STUN_PRIMARY, STUN_SECONDARY]);
  const pub = await lab.namespace('pub');
  const pubIp = `${WAN_PREFIX}.200`;
  await attach(pub, 'eth0', [pubIp]);

  const sites: Record<string, Site> = {};
  let index = 1;
  const makeSite = async (
    key: string,
    kind: NatKind,
    upstream: (router: Namespace) => Promise<string>,
  ): Promise<void> => {
    const n = index++;
    const router = await lab.namespace(`r${key}`);
    const device = await lab.namespace(`d${key}`);
    const wan = await upstream(router);
    await lab.veth(router, 'lan0', device, 'eth0');
    const lanGateway = `192.168.${n}.1`;
    const deviceIp = `192.168.${n}.2`;
    await router.addAddress('lan0', `${lanGateway}/24`);
    await device.addAddress('eth0', `${deviceIp}/24`);
    await device.defaultRoute(lanGateway);
    await router.sysctl('net.ipv4.ip_forward', '1');
    await router.nft(routerRuleset(kind, 'wan0', 'lan0'));
    sites[key] = { router, device, wan, lanGateway, deviceIp };
  };

  let wanHost = 10;
  for (const [key, kind] of Object.entries(spec.homes)) {
    await makeSite(key, kind, async (router) => {
      const wan = `${WAN_PREFIX}.${wanHost}`;
      wanHost += 10;
      await attach(router, 'wan0', [wan]);
      return wan;
    });
  }

  let cgn: Namespace | undefined;
  const cgnWan = `${WAN_PREFIX}.${wanHost}`;
  if (spec.behindCgn && Object.keys(spec.behindCgn).length) {
    cgn = await lab.namespace('cgn');
    await attach(cgn, 'wan0', [cgnWan]);
    await cgn.sysctl('net.ipv4.ip_forward', '1');
    const inside: string[] = [];
    let sub = 2;
    for (const [key, kind] of Object.entries(spec.behindCgn)) {
      await makeSite(key, kind, async (router) => {
        const ifname = `s${sub}`;
        await lab.veth(cgn!, ifname, router, 'wan0');
        inside.push(ifname);
        const wan = `100.64.0.${sub}`;
        sub++;
        await router.addAddress('wan0', `${wan}/24`);
        await router.defaultRoute('100.64.0.1');
        return wan;
      });
    }
    await lab.bridge(cgn, 'cgnlan', inside);
    await cgn.addAddress('cgnlan', '100.64.0.1/24');
    await cgn.nft(routerRuleset('port-restricted', 'wan0', 'cgnlan'));
  }
  await lab.bridge(inet, 'br0', ports);
  return { inet, stun, pub, pubIp, sites, ...(cgn ? { cgn, cgnWan } : {}) };
}

/** A miniupnpd config for a lab router: IGD v2 (its default), NAT-PMP and PCP on, short leases allowed. */
export function miniupnpdConfig(options: {
  uuid: string;
  lanNet: string;
  httpPort?: number;
  /** Describe the device as IGD v1 (WANIPConnection:1), like older home routers. */
  igdV1?: boolean;
}): string {
  return [
    `force_igd_desc_v1=${options.igdV1 ? 'yes' : 'no'}`,
    'ext_ifname=wan0',
    'listening_ip=lan0',
    `http_port=${options.httpPort ?? 5000}`,
    'enable_natpmp=yes',
    'enable_upnp=yes',
    'secure_mode=yes',
    'system_uptime=no',
    'min_lifetime=2',
    'max_lifetime=86400',
    `uuid=${options.uuid}`,
    `allow 1024-65535 ${options.lanNet} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    '',
  ].join('\n');
}
