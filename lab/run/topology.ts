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
  /** NAT class label for the connection matrix, e.g. `port-restricted`, `cgn-eim`, `port-restricted+cgn`. */
  natClass: string;
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
        natClass = behindCgn ? `${group.nat}+cgn` : group.nat;
      }
      devices.push({
        index,
        name,
        group,
        isp: ispSpec,
        host,
        gateway,
        natClass,
        behindCgn,
        arrivalMs: arrivalTimes[index] ?? 0,
        downBps: group.link.downMbps * 1e6,
        upBps: group.link.upMbps * 1e6,
      });
    }
  }
  return { devices, servers, isps };
}
