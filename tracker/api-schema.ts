import { type Static, Type } from '@sinclair/typebox';
import { PunchCandidate, ReachabilityReport } from '../nat/index.ts';

/**
 * Request and response schemas of the tracker's JSON API (`/v1/...`). The agent imports the types
 * from tracker/index.ts; the tracker validates every request against them.
 */

export const DeviceId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$' });
/** `<product>@<version>`; product as release/schema.ts NameSegment, version semver-ish. */
export const ReleaseIdString = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}@[0-9A-Za-z.+-]{1,64}$',
});
/** Base64 of a raw 32-byte X25519 key. */
export const PublicKey32 = Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$' });
export const DeviceToken = Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$' });

const Host = Type.String({ minLength: 1, maxLength: 64 });
const Port = Type.Integer({ minimum: 0, maximum: 65535 });
export const AddressSchema = Type.Object({ host: Host, port: Port }, { additionalProperties: false });

/** Candidates use the NAT module's format, so the agent hands them to its puncher unchanged. */
export const Candidate = PunchCandidate;
export type Candidate = PunchCandidate;

export const IspHintsSchema = Type.Object(
  {
    asn: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })),
    isp: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    region: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const DeviceState = Type.Object(
  {
    wifi: Type.Optional(Type.Boolean()),
    charging: Type.Optional(Type.Boolean()),
    /** False when the device's policy forbids uploading now (battery, metered link, monthly cap). */
    uploadAllowed: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const AnnounceRequest = Type.Object(
  {
    deviceId: DeviceId,
    /** Omitted on the very first announce; the answer then carries a new token to repeat from then on. */
    deviceToken: Type.Optional(DeviceToken),
    release: ReleaseIdString,
    event: Type.Optional(
      Type.Union([
        Type.Literal('started'),
        Type.Literal('update'),
        Type.Literal('completed'),
        Type.Literal('stopped'),
      ]),
    ),
    /** The device's PZ/UDP port, paired with the observed source address as an `observed` candidate. */
    port: Port,
    /**
     * The device's BitTorrent-over-TCP listen port, when it has one: stock clients in the release's
     * swarm are then given this device at its observed public address and this port.
     */
    tcpPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    progress: Type.Object(
      {
        have: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
        /** Base64 compact bitfield (BitTorrent order: high bit of byte 0 = piece 0). */
        bitfield: Type.Optional(Type.String({ maxLength: 200_000, pattern: '^[A-Za-z0-9+/]*={0,2}$' })),
        complete: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    reachability: ReachabilityReport,
    candidates: Type.Array(Candidate, { maxItems: 16 }),
    publicKey: PublicKey32,
    ispHints: Type.Optional(IspHintsSchema),
    state: Type.Optional(DeviceState),
    /** Bytes per second the device is willing to upload; 0 = none. */
    uploadCapacity: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000_000 })),
    /** Current upload load, 0 (idle) .. 1 (saturated). */
    load: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    numwant: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  },
  { additionalProperties: false },
);
export type AnnounceRequest = Static<typeof AnnounceRequest>;

export const LocalityTier = Type.Union([
  Type.Literal('lan'),
  Type.Literal('isp-region'),
  Type.Literal('isp'),
  Type.Literal('region'),
  Type.Literal('internet'),
]);

export const RankedPeer = Type.Object({
  deviceId: Type.String(),
  publicKey: Type.String(),
  candidates: Type.Array(Candidate),
  tier: LocalityTier,
  /** lan: use LAN candidates; direct: dial; reverse: ask the rendezvous to make it dial you; punch: punch. */
  reachableHow: Type.Union([
    Type.Literal('lan'),
    Type.Literal('direct'),
    Type.Literal('reverse'),
    Type.Literal('punch'),
  ]),
  seeder: Type.Boolean(),
  have: Type.Integer(),
  load: Type.Number(),
  bridge: Type.Boolean(),
});
export type RankedPeer = Static<typeof RankedPeer>;

export const EdgeInfo = Type.Object({
  id: Type.String(),
  address: AddressSchema,
  publicKey: Type.String(),
  region: Type.String(),
  load: Type.Number(),
  capacity: Type.Number(),
});
export type EdgeInfo = Static<typeof EdgeInfo>;

export const AnnounceResponse = Type.Object({
  /** Present only when the tracker issued a new token (first announce of this device id). */
  deviceToken: Type.Optional(Type.String()),
  /** Seconds until the next announce; shorter while the swarm is young. */
  interval: Type.Integer(),
  minInterval: Type.Integer(),
  peers: Type.Array(RankedPeer),
  /**
   * Stock BitTorrent clients in the release's swarm (they came in through `GET /announce`), to dial
   * over the TCP wire at `host:port`. Chosen like `peers` (locality, scope) and never outside the
   * product's peering scope; always present, possibly empty.
   */
  btPeers: Type.Array(Type.Object({ host: Type.String(), port: Type.Integer() })),
  edges: Type.Array(EdgeInfo),
  cdnUrls: Type.Array(Type.String()),
  /** Piece indices rarest among a sample of the swarm: fetch these first. */
  rarePieces: Type.Array(Type.Integer()),
  swarm: Type.Object({ seeders: Type.Integer(), leechers: Type.Integer() }),
  you: Type.Object({
    publicIp: Type.String(),
    isp: Type.Union([Type.String(), Type.Null()]),
    region: Type.Union([Type.String(), Type.Null()]),
    asn: Type.Union([Type.Integer(), Type.Null()]),
    reach: Type.Union([Type.Literal('open'), Type.Literal('punchable'), Type.Literal('hard')]),
  }),
});
export type AnnounceResponse = Static<typeof AnnounceResponse>;

export const CurrentReleaseQuery = Type.Object(
  { device: Type.Optional(DeviceId) },
  { additionalProperties: false },
);

export const RolloutStatus = Type.Object({
  release: Type.String(),
  waves: Type.Array(Type.Number()),
  wave: Type.Integer(),
  percent: Type.Number(),
  state: Type.Union([
    Type.Literal('running'),
    Type.Literal('paused'),
    Type.Literal('halted'),
    Type.Literal('complete'),
  ]),
  reason: Type.Union([Type.String(), Type.Null()]),
});
export type RolloutStatus = Static<typeof RolloutStatus>;

export const CurrentReleaseResponse = Type.Object({
  product: Type.String(),
  channel: Type.String(),
  release: Type.String(),
  version: Type.String(),
  /** Whether this device is inside the rollout now; when false, keep the installed version. */
  eligible: Type.Boolean(),
  rollout: RolloutStatus,
  infoHash: Type.String(),
  manifestKey: Type.String(),
  cdnUrls: Type.Array(Type.String()),
});
export type CurrentReleaseResponse = Static<typeof CurrentReleaseResponse>;

/**
 * POST to the current-release route: the release check and the first announce in one round trip. A
 * device cannot announce before it knows the release, and a mobile device paid a whole request (a round
 * trip plus the answer's transfer: ~0.5 s at 260 ms and 2 % loss) between the two. With `announce`,
 * the tracker announces the device into the current release's swarm (when it is eligible, or when
 * `respectRollout` is false) and puts the announce answer in its reply.
 */
export const CurrentJoinRequest = Type.Object(
  {
    deviceId: DeviceId,
    /** Join only inside the rollout (the daemon); `agent fetch` may fetch what is not rolled out yet. */
    respectRollout: Type.Optional(Type.Boolean()),
    announce: Type.Optional(Type.Omit(AnnounceRequest, ['release', 'deviceId'])),
  },
  { additionalProperties: false },
);
export type CurrentJoinRequest = Static<typeof CurrentJoinRequest>;

/** The current release, and the announce answer when the tracker joined the device to its swarm. */
export type CurrentJoinResponse = CurrentReleaseResponse & { announce?: AnnounceResponse };

const Bytes = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const ReportRequest = Type.Object(
  {
    deviceId: DeviceId,
    deviceToken: DeviceToken,
    release: ReleaseIdString,
    bytes: Type.Object(
      {
        peerSameIsp: Bytes,
        peerOtherIsp: Bytes,
        edge: Bytes,
        cdn: Bytes,
      },
      { additionalProperties: false },
    ),
    uploaded: Bytes,
    /** Milliseconds from start to verified download. */
    completionMs: Type.Optional(Bytes),
    outcome: Type.Union([
      Type.Literal('downloaded'),
      Type.Literal('installed'),
      Type.Literal('download-failed'),
      Type.Literal('install-failed'),
    ]),
    failure: Type.Optional(Type.String({ maxLength: 300 })),
  },
  { additionalProperties: false },
);
export type ReportRequest = Static<typeof ReportRequest>;

export const ByteCounts = Type.Object({
  peerSameIsp: Type.Number(),
  peerOtherIsp: Type.Number(),
  edge: Type.Number(),
  cdn: Type.Number(),
  uploaded: Type.Number(),
  total: Type.Number(),
  /** Percent of received bytes that came from peers. */
  offloadPercent: Type.Number(),
  reports: Type.Number(),
  installed: Type.Number(),
  failures: Type.Number(),
  meanCompletionMs: Type.Union([Type.Number(), Type.Null()]),
});
export type ByteCounts = Static<typeof ByteCounts>;

export const ReleaseStats = Type.Object({
  release: Type.String(),
  total: ByteCounts,
  byIsp: Type.Record(Type.String(), ByteCounts),
  byRegion: Type.Record(Type.String(), ByteCounts),
});
export type ReleaseStats = Static<typeof ReleaseStats>;

export const EdgeRegisterRequest = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$' }),
    address: AddressSchema,
    publicKey: PublicKey32,
    region: Type.String({ minLength: 1, maxLength: 64 }),
    capacity: Type.Integer({ minimum: 0, maximum: 1_000_000_000_000 }),
    load: Type.Number({ minimum: 0, maximum: 1 }),
  },
  { additionalProperties: false },
);
export type EdgeRegisterRequest = Static<typeof EdgeRegisterRequest>;

export const EdgeHeartbeatRequest = Type.Object(
  {
    id: EdgeRegisterRequest.properties.id,
    load: Type.Number({ minimum: 0, maximum: 1 }),
  },
  { additionalProperties: false },
);
export type EdgeHeartbeatRequest = Static<typeof EdgeHeartbeatRequest>;

export const EdgeListResponse = Type.Object({
  edges: Type.Array(EdgeInfo),
  /** Seconds between heartbeats the tracker expects (edges reply to this). */
  heartbeatInterval: Type.Number(),
});

export const RolloutStartRequest = Type.Object(
  {
    /** Cumulative device percentages per wave, ascending, ending at 100. */
    waves: Type.Optional(
      Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 100 }), { minItems: 1, maxItems: 20 }),
    ),
    /** Halt when a wave has at least this many install failures ... */
    failureCount: Type.Optional(Type.Integer({ minimum: 1 })),
    /** ... and they are at least this share (0..1) of the wave's install outcomes. */
    failureRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);
export type RolloutStartRequest = Static<typeof RolloutStartRequest>;

export const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});
export type ErrorBody = Static<typeof ErrorBody>;
