import {
  type Address,
  type Clock,
  type HttpClient,
  type Logger,
  type Random,
  type UdpNetwork,
  withTimeout,
} from '../runtime/index.ts';
import type { DatagramChannel } from './channel.ts';
import { classifyNat, type NatClassification } from './classify.ts';
import { createPortMapper, type PortMapper, type PortMapperOptions } from './portmap/mapper.ts';
import type { PortMappingInfo, ReachabilityReport } from './report.ts';
import { createStunClient } from './stun/client.ts';

export interface ProbeOptions {
  /** STUN servers (an edge's or the tracker's socket, or a dedicated RFC 5780 server). */
  stun: Address[];
  /** Our LAN addresses with the socket's port: host candidates, and "no NAT" detection. */
  lan: Address[];
  /** Port mapping towards the gateway, or null to skip it (`--no-map`). */
  portMapping: Omit<PortMapperOptions, 'internalPort'> | null;
  /** The local port being exposed (the socket's). */
  port: number;
  /** Per STUN transaction. Default 1500 ms. */
  stunTimeoutMs?: number;
  /**
   * How long the report waits for port mapping once classification is done (default: until the mapper
   * is done). A gateway that speaks a mapping protocol answers within a LAN round trip; one that speaks
   * none costs every protocol's timeout (2 s), which a device that must register before it can punch
   * should not wait out. A mapping made later reaches the mapper's `onChange` listeners.
   */
  mappingGraceMs?: number;
}

export interface ProbeResult {
  report: ReachabilityReport;
  classification: NatClassification;
  /** Holds the mapping (renewing it) until stopped: the caller owns its lifetime. */
  mapper: PortMapper | null;
}

const MAX_ERRORS = 16;

/**
 * Runs NAT classification on the shared socket and port mapping in parallel, and assembles the
 * reachability report the agent sends to the tracker (and `swarmlane nat probe` prints).
 */
export async function probeReachability(
  options: ProbeOptions,
  components: {
    channel: DatagramChannel;
    clock: Clock;
    random: Random;
    logger: Logger;
    udp: UdpNetwork;
    http: HttpClient;
  },
): Promise<ProbeResult> {
  const client = createStunClient({}, components);
  const mapper = options.portMapping
    ? createPortMapper({ ...options.portMapping, internalPort: options.port }, components)
    : null;
  try {
    const mapping = mapper ? mapper.start() : Promise.resolve(null);
    // Handled below once classification is done; meanwhile a failure must not go unhandled.
    mapping.catch(() => undefined);
    const classification = await classifyNat(
      {
        servers: options.stun,
        local: options.lan,
        ...(options.stunTimeoutMs ? { timeoutMs: options.stunTimeoutMs } : {}),
      },
      { ...components, client },
    );
    // Past the grace (or failed), the mapping is left out of this report; it goes on regardless.
    const graced = (ms: number) =>
      withTimeout(components.clock, ms, mapping, () => new Error('mapping grace over')).catch(() => null);
    const mapped =
      options.mappingGraceMs === undefined ? await mapping : await graced(options.mappingGraceMs);
    const report = buildReport({
      classification,
      portMapping: mapped?.info ?? null,
      lan: options.lan,
      errors: [...classification.errors, ...(mapped?.errors ?? [])],
    });
    return { report, classification, mapper };
  } finally {
    client.close();
  }
}

/** Pure: the report from what was learned. Exposed for the tracker's and the agent's tests. */
export function buildReport(input: {
  classification: Pick<NatClassification, 'mapping' | 'filtering' | 'reflexive' | 'hairpin'>;
  portMapping: PortMappingInfo | null;
  lan: Address[];
  errors: string[];
}): ReachabilityReport {
  const { mapping, filtering, reflexive, hairpin } = input.classification;
  // No NAT and no filtering firewall we know of, a full-cone NAT (reachable at the reflexive address
  // while keepalives hold it), or a port mapping on a public address: unsolicited inbound works.
  const openWithoutNat =
    mapping === 'none' && filtering !== 'address-dependent' && filtering !== 'address-and-port-dependent';
  const fullCone = mapping === 'endpoint-independent' && filtering === 'endpoint-independent';
  const mappedReachable = input.portMapping?.reachable === true;
  return {
    public: openWithoutNat || fullCone || mappedReachable,
    mapping,
    filtering,
    reflexive: reflexive ? { host: reflexive.host, port: reflexive.port } : null,
    portMapping: input.portMapping,
    lan: input.lan.slice(0, 16).map((a) => ({ host: a.host, port: a.port })),
    hairpin,
    errors: [...new Set(input.errors)].slice(0, MAX_ERRORS).map((e) => e.slice(0, 300)),
  };
}

/** The human-readable form `swarmlane nat probe` prints. */
export function formatReport(report: ReachabilityReport): string {
  const addr = (a: { host: string; port: number } | null) => (a ? `${a.host}:${a.port}` : '-');
  const pm = report.portMapping;
  const lines = [
    `public:       ${report.public ? 'yes (accepts unsolicited inbound UDP)' : 'no'}`,
    `mapping:      ${report.mapping}`,
    `filtering:    ${report.filtering}`,
    `reflexive:    ${addr(report.reflexive)}`,
    `port mapping: ${
      pm
        ? `${pm.protocol} ${addr(pm.external)} lease ${pm.lease === 0 ? 'permanent' : `${pm.lease} s`}${
            pm.reachable ? '' : ' (mapped but not reachable: gateway is behind another NAT)'
          }`
        : 'none'
    }`,
    `lan:          ${report.lan.map(addr).join(', ') || '-'}`,
    `hairpin:      ${report.hairpin === null ? 'unknown' : report.hairpin ? 'yes' : 'no'}`,
  ];
  for (const e of report.errors) lines.push(`note:         ${e}`);
  return lines.join('\n');
}
