import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { parseAddress } from '../runtime/index.ts';
import { AgentError } from './errors.ts';

/**
 * Agent configuration: the one place options and their defaults are documented. A config file is
 * YAML or JSON; `agent fetch` builds the same object from flags. Validated once at the entry point
 * ({@link parseAgentConfig}); everything after that trusts it.
 */
const Url = Type.String({ pattern: '^https?://[^\\s]+$' });
const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' });

export const AgentConfigSchema = Type.Object(
  {
    /** Stable device id (default: generated once and kept in the state dir). */
    deviceId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$' })),
    trust: Type.Object(
      {
        /** Ed25519 publisher public keys: PEM file paths or inline PEM text. */
        keys: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
        /** How many distinct trusted keys must have signed (default 1). */
        threshold: Type.Optional(Type.Integer({ minimum: 1 })),
      },
      { additionalProperties: false },
    ),
    /** Tracker base URL (announce, current release, reports). Optional: without it, edges + CDN only. */
    tracker: Type.Optional(Url),
    /** Root edge list: `HOST:PORT@KEYFILE` (X25519 public key, PEM file or base64 of 32 raw bytes). */
    edges: Type.Optional(Type.Array(Type.String({ minLength: 3 }))),
    /** CDN base URLs: each store key is served at `<url>/<key>`. */
    cdn: Type.Optional(Type.Array(Url)),
    /** Directory for downloads, state files and the device id. */
    stateDir: Type.String({ minLength: 1 }),
    /** Products and channels to follow. */
    follow: Type.Optional(
      Type.Array(
        Type.Object({ product: Name, channel: Type.Optional(Name) }, { additionalProperties: false }),
      ),
    ),
    network: Type.Optional(
      Type.Object(
        {
          /** UDP bind address for the one PZ socket (default 0.0.0.0:0). */
          udpHost: Type.Optional(Type.String()),
          udpPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          /**
           * BitTorrent over TCP, to exchange pieces with standard clients (aria2c, Transmission):
           * listen on this port (0 = any free port) and announce it. Absent (default): no TCP wire.
           */
          tcpPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          /** TCP listen address (default: udpHost). */
          tcpHost: Type.Optional(Type.String()),
          /** BitTorrent peers (`HOST:PORT`) to dial over TCP for every release, e.g. a seed box; needs tcpPort. */
          tcpPeers: Type.Optional(Type.Array(Type.String({ minLength: 3, maxLength: 80 }), { maxItems: 64 })),
          /** ISP hints passed to the tracker. */
          isp: Type.Optional(Type.String({ maxLength: 64 })),
          region: Type.Optional(Type.String({ maxLength: 64 })),
          /** NAT traversal: STUN probe, port mapping, rendezvous and hole punching (default true). */
          traversal: Type.Optional(Type.Boolean()),
          /** Ask the home gateway for a port mapping (PCP / NAT-PMP / UPnP); default true. */
          portMapping: Type.Optional(Type.Boolean()),
          /**
           * Congestion control of what this device sends over PZ (its uploads to peers). Default
           * `adaptive`: loss-based like NewReno, so the up to `uploadSlots` sessions that share one
           * home uplink share its drop-tail queue cleanly (BBR sessions, with no loss bound, overfill
           * it: 10-15 % loss per device in bench:agent), but a loss with no queue behind it (RTT at
           * its minimum) is read as random radio loss and keeps the window, where plain `newreno`
           * collapses (2 % loss: under 1 Mbit/s). `newreno` and `bbr` are there for comparison.
           */
          peerCongestion: Type.Optional(
            Type.Union([Type.Literal('adaptive'), Type.Literal('newreno'), Type.Literal('bbr')]),
          ),
          /** The tracker's rendezvous/STUN endpoint as HOST:PORT@BASE64KEY (default: GET /v1/rendezvous). */
          rendezvous: Type.Optional(Type.String({ maxLength: 200 })),
        },
        { additionalProperties: false },
      ),
    ),
    policy: Type.Optional(
      Type.Object(
        {
          /** Seed after completion until the first limit that is set is reached. */
          seedRatio: Type.Optional(Type.Union([Type.Number({ minimum: 0 }), Type.Null()])),
          seedSeconds: Type.Optional(Type.Union([Type.Number({ minimum: 0 }), Type.Null()])),
          /** Keep seeding until the install hook finished (then stop). */
          seedUntilInstall: Type.Optional(Type.Boolean()),
          /** Upload only while on Wi-Fi / on external power. */
          wifiOnly: Type.Optional(Type.Boolean()),
          powerOnly: Type.Optional(Type.Boolean()),
          /** Upload rate cap in bytes/s (0 = none). */
          uploadRateBps: Type.Optional(Type.Integer({ minimum: 0 })),
          /** Peers unchoked at once (one of them optimistic). */
          uploadSlots: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
          maxPeers: Type.Optional(Type.Integer({ minimum: 0, maximum: 500 })),
          /**
           * How edges and the CDN are used. `swarm-first` (default): only for pieces no peer can supply
           * soon, through the flash-crowd gate. `web-seed`: like a stock BitTorrent client's BEP 19 web
           * seed, an ordinary source in rarest-first piece selection with no gate (the labs' plain
           * BitTorrent baseline).
           */
          infrastructure: Type.Optional(Type.Union([Type.Literal('swarm-first'), Type.Literal('web-seed')])),
          /** Largest share of the file that may come from edges + CDN while peers are connected. */
          infrastructureShareCap: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
          /** Peer rate floor (bytes/s) and how long it must be missed before infrastructure serves anything. */
          peerRateFloorBps: Type.Optional(Type.Integer({ minimum: 0 })),
          peerRateFloorSeconds: Type.Optional(Type.Number({ minimum: 0 })),
          /**
           * Peers that hold our missing pieces and unchoke us now and then keep us "waiting our turn"
           * below the floor; after this long below it we count as starving all the same.
           */
          peerRatePatienceSeconds: Type.Optional(Type.Number({ minimum: 0 })),
          /** Bounded wait for edge session init before failing forward to peers + CDN. */
          edgeInitTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
          /** Give up when no piece arrives for this long (0 = never). */
          stallTimeoutSeconds: Type.Optional(Type.Number({ minimum: 0 })),
          /** `agent run`: how often to check the channel pointer. */
          checkIntervalSeconds: Type.Optional(Type.Number({ minimum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Where Wi-Fi / power state comes from: a JSON file `{ "wifi": bool, "power": bool }` or a command printing it. */
    deviceState: Type.Optional(
      Type.Object(
        {
          provider: Type.Union([Type.Literal('none'), Type.Literal('file'), Type.Literal('command')]),
          path: Type.Optional(Type.String()),
          command: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    install: Type.Optional(
      Type.Object(
        {
          /** Shell command run with SWARMLANE_FILE, SWARMLANE_PRODUCT, SWARMLANE_VERSION, ... in its env. */
          hook: Type.Optional(Type.String({ minLength: 1 })),
          timeoutSeconds: Type.Optional(Type.Number({ minimum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type AgentConfigInput = Static<typeof AgentConfigSchema>;

export interface EdgeSpec {
  address: { host: string; port: number };
  /** Raw 32-byte X25519 static public key. */
  publicKey: Uint8Array;
}

export type InfrastructureMode = 'swarm-first' | 'web-seed';

export interface AgentPolicy {
  seedRatio: number | null;
  seedSeconds: number | null;
  seedUntilInstall: boolean;
  wifiOnly: boolean;
  powerOnly: boolean;
  uploadRateBps: number;
  uploadSlots: number;
  maxPeers: number;
  infrastructure: InfrastructureMode;
  infrastructureShareCap: number;
  peerRateFloorBps: number;
  peerRateFloorSeconds: number;
  peerRatePatienceSeconds: number;
  edgeInitTimeoutMs: number;
  stallTimeoutSeconds: number;
  checkIntervalSeconds: number;
}

export const DEFAULT_POLICY: AgentPolicy = {
  seedRatio: 1,
  seedSeconds: 3600,
  seedUntilInstall: false,
  wifiOnly: false,
  powerOnly: false,
  uploadRateBps: 0,
  uploadSlots: 8,
  maxPeers: 30,
  infrastructure: 'swarm-first',
  infrastructureShareCap: 1,
  peerRateFloorBps: 64 * 1024,
  peerRateFloorSeconds: 10,
  peerRatePatienceSeconds: 30,
  edgeInitTimeoutMs: 2000,
  stallTimeoutSeconds: 120,
  checkIntervalSeconds: 900,
};

/** Validated configuration with defaults applied and paths resolved. */
export interface AgentConfig {
  deviceId: string | undefined;
  trust: { keys: string[]; threshold: number };
  tracker: string | undefined;
  edges: EdgeSpec[];
  cdn: string[];
  stateDir: string;
  follow: Array<{ product: string; channel: string }>;
  network: {
    udpHost: string;
    udpPort: number;
    /** undefined: no TCP wire. */
    tcpPort: number | undefined;
    tcpHost: string;
    tcpPeers: Array<{ host: string; port: number }>;
    isp?: string;
    region?: string;
    traversal: boolean;
    portMapping: boolean;
    peerCongestion: 'adaptive' | 'newreno' | 'bbr';
    rendezvous?: { address: { host: string; port: number }; publicKey: Uint8Array };
  };
  policy: AgentPolicy;
  deviceState: { provider: 'none' | 'file' | 'command'; path?: string; command?: string };
  install: { hook: string | undefined; timeoutSeconds: number };
}

export const DEFAULT_CHANNEL = 'stable';

/**
 * The smart-start context of the agent's peer sessions (transport rateHistory): the uplink they
 * share, named by the ISP and region hints. Rates are remembered per process, so the key only has to
 * tell this device's networks apart.
 */
export function peerNetworkContext(network: Pick<AgentConfig['network'], 'isp' | 'region'>): string {
  return `isp=${network.isp ?? '?'};region=${network.region ?? '?'}`;
}

/**
 * Validates raw config (parsed YAML/JSON or built from flags) and applies defaults. Relative paths
 * resolve against `baseDir` (the config file's folder). Throws CONFIG_INVALID naming the bad field.
 */
export function parseAgentConfig(raw: unknown, baseDir = process.cwd()): AgentConfig {
  if (!Value.Check(AgentConfigSchema, raw)) {
    const first = Value.Errors(AgentConfigSchema, raw).First();
    const where = first ? `${first.path || '/'}: ${first.message}` : 'invalid';
    throw new AgentError('CONFIG_INVALID', `agent config ${where}`);
  }
  const input = raw;
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const trustKeys = input.trust.keys.map((k) => (k.includes('-----BEGIN') ? k : at(k)));
  const threshold = input.trust.threshold ?? 1;
  if (threshold > trustKeys.length)
    throw new AgentError(
      'CONFIG_INVALID',
      `agent config /trust/threshold: ${threshold} exceeds the ${trustKeys.length} trusted key(s)`,
    );
  const policy: AgentPolicy = { ...DEFAULT_POLICY };
  for (const [key, value] of Object.entries(input.policy ?? {}))
    if (value !== undefined) (policy as unknown as Record<string, unknown>)[key] = value;
  const deviceState = input.deviceState ?? { provider: 'none' as const };
  if (deviceState.provider === 'file' && !deviceState.path)
    throw new AgentError('CONFIG_INVALID', 'agent config /deviceState/path: required for provider "file"');
  if (deviceState.provider === 'command' && !deviceState.command)
    throw new AgentError(
      'CONFIG_INVALID',
      'agent config /deviceState/command: required for provider "command"',
    );
  return {
    deviceId: input.deviceId,
    trust: { keys: trustKeys, threshold },
    tracker: input.tracker?.replace(/\/+$/, ''),
    edges: (input.edges ?? []).map((spec, i) => parseEdgeSpec(spec, baseDir, `/edges/${i}`)),
    cdn: (input.cdn ?? []).map((u) => u.replace(/\/+$/, '')),
    stateDir: at(input.stateDir),
    follow: (input.follow ?? []).map((f) => ({ product: f.product, channel: f.channel ?? DEFAULT_CHANNEL })),
    network: {
      udpHost: input.network?.udpHost ?? '0.0.0.0',
      udpPort: input.network?.udpPort ?? 0,
      tcpPort: input.network?.tcpPort,
      tcpHost: input.network?.tcpHost ?? input.network?.udpHost ?? '0.0.0.0',
      tcpPeers: parseTcpPeers(input.network?.tcpPeers ?? [], input.network?.tcpPort !== undefined),
      ...(input.network?.isp ? { isp: input.network.isp } : {}),
      ...(input.network?.region ? { region: input.network.region } : {}),
      traversal: input.network?.traversal ?? true,
      portMapping: input.network?.portMapping ?? true,
      peerCongestion: input.network?.peerCongestion ?? 'adaptive',
      ...(input.network?.rendezvous ? { rendezvous: parseRendezvous(input.network.rendezvous) } : {}),
    },
    policy,
    deviceState: {
      provider: deviceState.provider,
      ...(deviceState.path ? { path: at(deviceState.path) } : {}),
      ...(deviceState.command ? { command: deviceState.command } : {}),
    },
    install: { hook: input.install?.hook, timeoutSeconds: input.install?.timeoutSeconds ?? 600 },
  };
}

/** Reads a YAML or JSON config file and validates it. */
export function loadAgentConfig(path: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new AgentError('CONFIG_INVALID', `cannot read agent config ${path}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new AgentError('CONFIG_INVALID', `agent config ${path} is not valid YAML/JSON`, { cause: error });
  }
  return parseAgentConfig(raw, dirname(resolve(path)));
}

/** `HOST:PORT@KEY` where KEY is a PEM public-key file or base64 of the raw 32-byte X25519 key. */
export function parseEdgeSpec(spec: string, baseDir = process.cwd(), field = 'edge'): EdgeSpec {
  const at = spec.indexOf('@');
  if (at <= 0) throw new AgentError('CONFIG_INVALID', `${field}: "${spec}" is not HOST:PORT@KEYFILE`);
  let address: { host: string; port: number };
  try {
    address = parseAddress(spec.slice(0, at));
  } catch (error) {
    throw new AgentError('CONFIG_INVALID', `${field}: ${(error as Error).message}`);
  }
  const keyText = spec.slice(at + 1);
  return { address, publicKey: readEdgeKey(keyText, baseDir, field) };
}

function readEdgeKey(keyText: string, baseDir: string, field: string): Uint8Array {
  if (/^[A-Za-z0-9+/]{43}=$/.test(keyText)) return new Uint8Array(Buffer.from(keyText, 'base64'));
  const path = isAbsolute(keyText) ? keyText : resolve(baseDir, keyText);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new AgentError('CONFIG_INVALID', `${field}: cannot read edge key file ${path}`);
  }
  return rawKeyFromPem(text, path, field);
}

function rawKeyFromPem(text: string, path: string, field: string): Uint8Array {
  const trimmed = text.trim();
  if (/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) return new Uint8Array(Buffer.from(trimmed, 'base64'));
  try {
    const jwk = createPublicKey({ key: trimmed, format: 'pem' }).export({ format: 'jwk' });
    if (jwk.crv !== 'X25519' || typeof jwk.x !== 'string') throw new Error('not x25519');
    return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
  } catch {
    throw new AgentError('CONFIG_INVALID', `${field}: ${path} is not an X25519 public key (PEM or base64)`);
  }
}

function parseTcpPeers(specs: string[], listening: boolean): Array<{ host: string; port: number }> {
  if (specs.length > 0 && !listening)
    throw new AgentError('CONFIG_INVALID', 'agent config /network/tcpPeers: needs network.tcpPort');
  return specs.map((spec, i) => {
    try {
      const address = parseAddress(spec);
      if (address.port === 0) throw new Error('port 0');
      return address;
    } catch (error) {
      throw new AgentError(
        'CONFIG_INVALID',
        `agent config /network/tcpPeers/${i}: ${(error as Error).message}`,
      );
    }
  });
}

/** HOST:PORT@BASE64KEY, the form `edges` entries use. */
function parseRendezvous(spec: string): { address: { host: string; port: number }; publicKey: Uint8Array } {
  const match = /^([^:@]+):(\d{1,5})@([A-Za-z0-9+/=]{43,44})$/.exec(spec);
  const key = match ? new Uint8Array(Buffer.from(match[3]!, 'base64')) : undefined;
  if (!match || !key || key.length !== 32 || Number(match[2]) > 65535)
    throw new AgentError('CONFIG_INVALID', 'agent config /network/rendezvous: expected HOST:PORT@BASE64KEY');
  return { address: { host: match[1]!, port: Number(match[2]) }, publicKey: key };
}
