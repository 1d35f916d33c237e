import { type Static, Type } from '@sinclair/typebox';

/**
 * The reachability report an agent sends to the tracker (and `swarmlane nat probe --json` prints).
 * Classes follow RFC 4787 terminology.
 */
export const MappingBehaviour = Type.Union([
  Type.Literal('none'), // no NAT: the local address is the public one
  Type.Literal('endpoint-independent'),
  Type.Literal('address-dependent'),
  Type.Literal('address-and-port-dependent'),
  Type.Literal('unknown'),
]);
export type MappingBehaviour = Static<typeof MappingBehaviour>;

export const FilteringBehaviour = Type.Union([
  Type.Literal('none'),
  Type.Literal('endpoint-independent'),
  Type.Literal('address-dependent'),
  Type.Literal('address-and-port-dependent'),
  Type.Literal('unknown'),
]);
export type FilteringBehaviour = Static<typeof FilteringBehaviour>;

const Endpoint = Type.Object({
  host: Type.String({ maxLength: 64 }),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
});

export const PortMappingInfo = Type.Object({
  protocol: Type.Union([
    Type.Literal('upnp-igd1'),
    Type.Literal('upnp-igd2'),
    Type.Literal('nat-pmp'),
    Type.Literal('pcp'),
  ]),
  external: Endpoint,
  /** Lease in seconds (0 = permanent). */
  lease: Type.Integer({ minimum: 0 }),
  /** False when the gateway's external address is private or shared (100.64/10): NAT444. */
  reachable: Type.Boolean(),
});
export type PortMappingInfo = Static<typeof PortMappingInfo>;

export const ReachabilityReport = Type.Object({
  /** True when the device can accept unsolicited inbound UDP (public address or working port mapping). */
  public: Type.Boolean(),
  mapping: MappingBehaviour,
  filtering: FilteringBehaviour,
  reflexive: Type.Union([Endpoint, Type.Null()]),
  portMapping: Type.Union([PortMappingInfo, Type.Null()]),
  lan: Type.Array(Endpoint, { maxItems: 16 }),
  hairpin: Type.Union([Type.Boolean(), Type.Null()]),
  errors: Type.Array(Type.String({ maxLength: 300 }), { maxItems: 16 }),
});
export type ReachabilityReport = Static<typeof ReachabilityReport>;
