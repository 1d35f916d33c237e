import type { DeviceGroup, DeviceNat, IspSpec, LinkSpec, Scenario } from '../scenario/schema.ts';
import {
  type LinkOptions,
  type NatOptions,
  natPresets,
  profiles,
  type SimGateway,
  type SimHost,
  type SimIsp,
  type Simulation,
} from '../sim/index.ts';

/** One device of the scenario, placed on the simulated network. */
export interface LabDevice {
  index: number;
  name: string;
  group: DeviceGroup;
  isp: IspSpec;
  host: SimHost;
  gateway: SimGateway | undefined;
  /**
   * NAT class label for the connection matrix: the home NAT (or `public`, or `cgn-eim` /
   * `cgn-symmetric` for a phone on mobile data) plus `+upnp` (the gateway offers port mapping),
   * `+open` (a static port forward) and `+cgn` (the home sits behind the ISP's CGN).
   */
  natClass: string;
  /** UDP port the device's agent listens on: unique per device with an open port (the forward's port). */
  listenPort: number;
  behindCgn: boolean;
  /** Virtual ms after the start of the run at which the device wants the release. */
  arrivalMs: number;
  downBps: number;
  upBps: number;
}

export interface LabServers {
  tracker: SimHost;
  cdn: SimHost;
  edges: SimHost[];
}

export interface LabTopology {
  devices: LabDevice[];
  servers: LabServers;
  isps: Map<string, SimIsp>;
}

/** The agents' UDP port; a device with a static port forward gets AGENT_PORT + 1 + its index instead (never 6881 itself, which the others announce). */
export const AGENT_PORT = 6881;

const NAT_OPTIONS: Record<Exclude<DeviceNat, 'public'>, NatOptions> = {
  'full-cone': natPresets.fullCone,
  'address-restricted': natPresets.addressRestricted,
  'port-restricted': natPresets.portRestricted,
  symmetric: natPresets.symmetric,
};

/** Scenario link (Mbit/s, one-way delay, loss) -> simulated access link; country profiles set delay/loss. */
export function accessLink(link: LinkSpec): LinkOptions {
  const up = { bandwidthBps: link.upMbps * 1e6 };
  const down = { bandwidthBps: link.downMbps * 1e6 };
  if (link.country) {
    const profile = profiles.country(link.country, { upBps: up.bandwidthBps, downBps: down.bandwidthBps });
    return profile;
  }
  return { delayMs: link.delayMs, loss: link.loss, up, down };
}

/** Arrival offsets in ms from the scenario's arrival process, drawn from the lab's seeded stream. */
function arrivals(scenario: Scenario, count: number, random: () => number): number[] {
  const a = scenario.arrival;
  switch (a.kind) {
    case 'all-at-once':
      return new Array<number>(count).fill(0);
    case 'ramp':
      return Array.from({ length: count }, (_, i) =>
        count <= 1 ? 0 : (i / (count - 1)) * a.overSeconds * 1000,
      );
    case 'poisson': {
      let t = 0;
      return Array.from({ length: count }, () => {
        const at = t;
        t += (-Math.log(1 - random()) / a.ratePerSecond) * 1000;
        return at;
      });
    }
  }
}

/** Fisher-Yates, in place, from a seeded stream. */
function shuffle<T>(items: T[], random: { int(maxExclusive: number): number }): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

/**
 * Builds the scenario's network: regions, ISPs (with a CGN when any of their homes sit behind one),
 * home gateways, devices and the operator's servers (tracker and CDN in the CDN's region, edges in
 * theirs). Placement decisions use the simulation's own seeded stream, so a seed fixes the topology.
 */
export function buildTopology(sim: Simulation, scenario: Scenario): LabTopology {
  const random = sim.random('lab-topology');
  const regions = new Map<string, ReturnType<Simulation['addRegion']>>();
  const regionOf = (name: string) => {
    let region = regions.get(name);
    if (!region) {
      region = sim.addRegion({ name });
      regions.set(name, region);
    }
    return region;
  };
  const isps = new Map<string, SimIsp>();
  for (const spec of scenario.isps) {
    const cgnBase = spec.cgn.mapping === 'endpoint-independent' ? natPresets.cgnEim : natPresets.cgnSymmetric;
    const isp = sim.addIsp({
      name: spec.name,
      region: regionOf(spec.region),
      ...(spec.cgnShare > 0
        ? {
            cgn: {
              ...cgnBase,
              hairpinning: spec.cgn.hairpin,
              portBlockSize: spec.cgn.portBlock,
              pcp: spec.cgn.pcp,
            },
          }
        : {}),
    });
    isps.set(spec.name, isp);
  }

  const servers: LabServers = {
    tracker: sim.addServer({ name: 'tracker', region: regionOf(scenario.cdn.region) }),
    cdn: sim.addServer({
      name: 'cdn',
      region: regionOf(scenario.cdn.region),
      link: { delayMs: 1, bandwidthBps: scenario.cdn.capacityMbps * 1e6, queueBytes: 4 * 1024 * 1024 },
    }),
    edges: scenario.edges.map((edge, i) =>
      sim.addServer({
        name: `edge-${i}`,
        region: regionOf(edge.region),
        link: { delayMs: 1, bandwidthBps: edge.capacityMbps * 1e6, queueBytes: 4 * 1024 * 1024 },
      }),
    ),
  };

  const homes = new Map<string, SimGateway>();
  const devices: LabDevice[] = [];
  const total = scenario.devices.reduce((n, g) => n + g.count, 0);
  const arrivalTimes = arrivals(scenario, total, () => random.float());
  // Devices are built group by group; without a shuffle a ramp or Poisson process would hand its
  // first arrivals to the first group only, and each ISP's crowd would arrive on its own, one after
  // another, instead of all of them together. (A stream of its own leaves placement draws unchanged.)
  shuffle(arrivalTimes, sim.random('lab-arrivals'));
  for (const [groupIndex, group] of scenario.devices.entries()) {
    const ispSpec = scenario.isps.find((i) => i.name === group.isp)!;
    const isp = isps.get(group.isp)!;
    const link = accessLink(group.link);
    for (let k = 0; k < group.count; k++) {
      const index = devices.length;
      const name = `d${index}`;
      const behindCgn = ispSpec.cgnShare > 0 && random.float() < ispSpec.cgnShare;
      let host: SimHost;
      let gateway: SimGateway | undefined;
      let natClass: string;
      let listenPort = AGENT_PORT;
      if (group.nat === 'public') {
        host = sim.addHost({ name, isp, behindCgn: false, link });
        natClass = 'public';
      } else if (!group.wifi && behindCgn) {
        // A phone on mobile data: no home router, only the carrier's NAT.
        host = sim.addHost({ name, isp, behindCgn: true, link });
        natClass = `cgn-${ispSpec.cgn.mapping === 'endpoint-independent' ? 'eim' : 'symmetric'}`;
      } else {
        const homeKey = group.home ?? `g${groupIndex}-h${Math.floor(k / group.perHome)}`;
        gateway = homes.get(homeKey);
        if (!gateway) {
          gateway = sim.addGateway({
            name: `gw-${homeKey}`,
            isp,
            behindCgn,
            nat: NAT_OPTIONS[group.nat],
            link,
            ...(group.portMapping ? { portMapping: { upnp: true, natPmp: true, pcp: true } } : {}),
          });
          homes.set(homeKey, gateway);
        }
        host = sim.addHost({ name, gateway });
        if (group.openPort) {
          // The thesis' "open port": the owner forwards one external port to this device, which must
          // then listen on it (two devices behind one address cannot both have 6881). Behind a CGN
          // the forward only opens the home router, as in real NAT444.
          listenPort = AGENT_PORT + 1 + index;
          const forward = gateway.nat.addExplicitMapping(
            {
              protocol: 'udp',
              internalIp: host.address,
              internalPort: listenPort,
              externalPort: listenPort,
              lifetimeMs: Infinity,
              description: `static forward to ${name}`,
              via: 'static',
            },
            sim.now(),
          );
          if (typeof forward === 'string') throw new RangeError(`port forward for ${name}: ${forward}`);
        }
        natClass = `${group.nat}${group.portMapping ? '+upnp' : ''}${group.openPort ? '+open' : ''}${behindCgn ? '+cgn' : ''}`;
      }
      devices.push({
        index,
        name,
        group,
        isp: ispSpec,
        host,
        gateway,
        natClass,
        listenPort,
        behindCgn,
        arrivalMs: arrivalTimes[index] ?? 0,
        downBps: group.link.downMbps * 1e6,
        upBps: group.link.upMbps * 1e6,
      });
    }
  }
  return { devices, servers, isps };
}
