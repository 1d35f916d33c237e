import { type Static, Type } from '@sinclair/typebox';

/**
 * Lab scenario files (YAML). Every field has a default (see lab/scenario/defaults.ts) so a scenario
 * says only what makes it different. Sizes are bytes, rates Mbit/s, times seconds unless named *Ms.
 */

/** Where a device sits, from the network's point of view. */
export const DeviceNat = Type.Union([
  Type.Literal('public'), // no NAT at all: a host with a public address
  Type.Literal('full-cone'), // home NAT44, endpoint-independent mapping and filtering
  Type.Literal('address-restricted'), // EIM mapping, address-dependent filtering
  Type.Literal('port-restricted'), // EIM mapping, address-and-port-dependent filtering (typical home router)
  Type.Literal('symmetric'), // address-and-port-dependent mapping and filtering
]);
export type DeviceNat = Static<typeof DeviceNat>;

export const LinkSpec = Type.Object({
  downMbps: Type.Number({ exclusiveMinimum: 0 }),
  upMbps: Type.Number({ exclusiveMinimum: 0 }),
  /** One-way propagation delay of the access link. */
  delayMs: Type.Number({ minimum: 0 }),
  /** Random loss probability per packet, each direction. */
  loss: Type.Number({ minimum: 0, maximum: 0.5 }),
  /** Optional: take delay and loss from the PacketZoom per-country table (FACTS.md). */
  country: Type.Optional(Type.String()),
});
export type LinkSpec = Static<typeof LinkSpec>;

export const CgnSpec = Type.Object({
  mapping: Type.Union([Type.Literal('endpoint-independent'), Type.Literal('address-and-port-dependent')]),
  hairpin: Type.Boolean(),
  pcp: Type.Boolean(),
  /** Ports per subscriber block (RFC 6888 port blocks). */
  portBlock: Type.Integer({ minimum: 64, maximum: 65536 }),
});
export type CgnSpec = Static<typeof CgnSpec>;

export const IspSpec = Type.Object({
  name: Type.String({ minLength: 1 }),
  region: Type.String({ minLength: 1 }),
  asn: Type.Integer({ minimum: 1 }),
  /** Share of this ISP's home gateways that sit behind the ISP's carrier-grade NAT (NAT444). */
  cgnShare: Type.Number({ minimum: 0, maximum: 1 }),
  cgn: CgnSpec,
});
export type IspSpec = Static<typeof IspSpec>;

export const DeviceGroup = Type.Object({
  count: Type.Integer({ minimum: 1 }),
  isp: Type.String(),
  nat: DeviceNat,
  /** The home gateway offers UPnP IGD / NAT-PMP / PCP port mapping. */
  portMapping: Type.Boolean(),
  /** Devices per home network (they share one gateway and public address). */
  perHome: Type.Integer({ minimum: 1 }),
  /** Groups naming the same home share one gateway (e.g. the thesis' 5 phones on one Wi-Fi). */
  home: Type.Optional(Type.String({ minLength: 1 })),
  /** A static port forward on the home gateway makes this device connectable ("open port"). */
  openPort: Type.Boolean(),
  link: LinkSpec,
  wifi: Type.Boolean(),
  charging: Type.Boolean(),
  /**
   * The agents' `network.peerCongestion`: congestion control of uploads to peers. `adaptive` is the
   * agent's default (loss-based on a shared home uplink, tolerant of random loss on a radio link);
   * `newreno` and `bbr` compare against it.
   */
  peerCongestion: Type.Union([Type.Literal('adaptive'), Type.Literal('newreno'), Type.Literal('bbr')]),
});
export type DeviceGroup = Static<typeof DeviceGroup>;

export const Arrival = Type.Union([
  Type.Object({ kind: Type.Literal('all-at-once') }),
  Type.Object({ kind: Type.Literal('ramp'), overSeconds: Type.Number({ exclusiveMinimum: 0 }) }),
  Type.Object({ kind: Type.Literal('poisson'), ratePerSecond: Type.Number({ exclusiveMinimum: 0 }) }),
]);
export type Arrival = Static<typeof Arrival>;

export const Churn = Type.Object({
  /** Share of devices that leave as soon as they have installed (they stop seeding). */
  leaveAfterInstall: Type.Number({ minimum: 0, maximum: 1 }),
  /** Share of devices that drop out mid-download, and how many of those come back later. */
  leaveMidDownload: Type.Number({ minimum: 0, maximum: 1 }),
  rejoinAfterSeconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
});
export type Churn = Static<typeof Churn>;

export const EdgeSpec = Type.Object({
  region: Type.String(),
  capacityMbps: Type.Number({ exclusiveMinimum: 0 }),
});
export type EdgeSpec = Static<typeof EdgeSpec>;

export const Policies = Type.Object({
  seedRatio: Type.Number({ minimum: 0 }),
  seedSeconds: Type.Number({ minimum: 0 }),
  uploadOnlyOnWifiAndPower: Type.Boolean(),
  /** Largest share of the release a device may take from edges and the CDN. */
  infrastructureShareCap: Type.Number({ minimum: 0, maximum: 1 }),
});
export type Policies = Static<typeof Policies>;

export const Scenario = Type.Object({
  name: Type.String({ minLength: 1 }),
  description: Type.String(),
  seed: Type.Integer({ minimum: 0 }),
  release: Type.Object({
    size: Type.Integer({ minimum: 1 }),
    pieceSize: Type.Integer({ minimum: 16384, maximum: 16777216 }),
  }),
  isps: Type.Array(IspSpec, { minItems: 1 }),
  devices: Type.Array(DeviceGroup, { minItems: 1 }),
  arrival: Arrival,
  churn: Churn,
  cdn: Type.Object({ capacityMbps: Type.Number({ exclusiveMinimum: 0 }), region: Type.String() }),
  edges: Type.Array(EdgeSpec),
  policies: Policies,
  /** Virtual-time limit; devices not done by then count as not completed. */
  deadlineSeconds: Type.Number({ exclusiveMinimum: 0 }),
});
export type Scenario = Static<typeof Scenario>;
