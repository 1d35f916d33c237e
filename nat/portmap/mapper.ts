import { type Clock, type TimerHandle, withTimeout } from '../../runtime/index.ts';
import { isNonPublicIPv4 } from '../ip.ts';
import type { PortMappingInfo } from '../report.ts';
import { createNatPmpClient, GatewayBehindNatError } from './natpmp.ts';
import { createPcpClient } from './pcp.ts';
import type { MappingClient, PortMapComponents, PortMapping } from './types.ts';
import { createUpnpClient, type UpnpOptions } from './upnp.ts';

export type MapperProtocol = 'pcp' | 'nat-pmp' | 'upnp';

export interface PortMapperOptions {
  /** The default gateway (NAT-PMP/PCP server). */
  gateway: string;
  /** Our LAN address towards the gateway. */
  internalHost: string;
  /** The local UDP port to expose (the transport's socket). */
  internalPort: number;
  /** Requested lease; renewed at half-life. Default 7200 s. */
  leaseSec?: number;
  /** Protocols to try, in order of preference. Default pcp, nat-pmp, upnp. */
  protocols?: MapperProtocol[];
  /** Budget per gateway exchange. Default 2000 ms. */
  timeoutMs?: number;
  upnp?: Partial<Omit<UpnpOptions, 'internalHost'>>;
  /**
   * PCP servers beyond the home gateway (e.g. the ISP's CGN, learned from DHCP or configuration).
   * Tried when the home gateway's external address is private or shared (NAT444).
   */
  upstreamPcp?: string[];
}

export const PORT_MAPPER_DEFAULTS = {
  leaseSec: 7200,
  protocols: ['pcp', 'nat-pmp', 'upnp'] as MapperProtocol[],
  timeoutMs: 2000,
};

export interface PortMapperResult {
  mapping: PortMapping | null;
  /** A mapping at the CGN on top of the home mapping, when the home gateway is itself behind NAT. */
  upstream: PortMapping | null;
  /** What the device can advertise: upstream mapping if any, else the home mapping. */
  info: PortMappingInfo | null;
  /** The gateway has no public address itself (NAT444): mapped-but-not-reachable at best. */
  gatewayBehindNat: boolean;
  errors: string[];
}

export interface PortMapper {
  /** Probes all protocols in parallel, maps with the best one that answered; never throws. */
  start(signal?: AbortSignal): Promise<PortMapperResult>;
  current(): PortMapperResult;
  /** Called after each renewal or loss. */
  onChange(handler: (result: PortMapperResult) => void): () => void;
  /** Stops renewing and deletes the mappings it made (bounded by the timeout). */
  stop(): Promise<void>;
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 280);
}

export function createPortMapper(options: PortMapperOptions, components: PortMapComponents): PortMapper {
  const o = {
    ...options,
    leaseSec: options.leaseSec ?? PORT_MAPPER_DEFAULTS.leaseSec,
    protocols: options.protocols ?? PORT_MAPPER_DEFAULTS.protocols,
    timeoutMs: options.timeoutMs ?? PORT_MAPPER_DEFAULTS.timeoutMs,
  };
  const { clock, logger } = components;
  const clients: Record<MapperProtocol, () => MappingClient> = {
    pcp: () =>
      createPcpClient(
        { server: o.gateway, internalHost: o.internalHost, timeoutMs: o.timeoutMs },
        components,
      ),
    'nat-pmp': () =>
      createNatPmpClient(
        { gateway: o.gateway, internalHost: o.internalHost, timeoutMs: o.timeoutMs },
        components,
      ),
    upnp: () =>
      createUpnpClient({ timeoutMs: o.timeoutMs, ...o.upnp, internalHost: o.internalHost }, components),
  };
  let state: PortMapperResult = {
    mapping: null,
    upstream: null,
    info: null,
    gatewayBehindNat: false,
    errors: [],
  };
  let gatewayBehindNat = false;
  let active: { client: MappingClient; upstreamClient: MappingClient | null } | null = null;
  let renewTimer: TimerHandle | undefined;
  let stopped = false;
  const handlers = new Set<(r: PortMapperResult) => void>();

  const infoFor = (mapping: PortMapping | null, upstream: PortMapping | null): PortMappingInfo | null => {
    const m = upstream ?? mapping;
    if (!m) return null;
    return {
      protocol: m.protocol,
      external: m.external,
      lease: m.leaseSec,
      reachable: m.external.host !== '0.0.0.0' && !isNonPublicIPv4(m.external.host),
    };
  };
  const publish = (next: PortMapperResult): void => {
    state = next;
    for (const h of handlers) h(state);
  };

  const scheduleRenewal = (): void => {
    const m = state.mapping;
    if (!m || stopped || m.leaseSec === 0) return;
    const lease = Math.min(m.leaseSec, state.upstream?.leaseSec ?? m.leaseSec);
    renewTimer = clock.setTimer(Math.max(1, lease / 2) * 1000, () => void renew());
  };

  const renew = async (): Promise<void> => {
    if (!active || !state.mapping || stopped) return;
    try {
      const mapping = await active.client.map({
        internalPort: o.internalPort,
        leaseSec: o.leaseSec,
        previous: state.mapping,
      });
      let upstream = state.upstream;
      if (upstream && active.upstreamClient)
        upstream = await active.upstreamClient.map({
          internalPort: mapping.external.port,
          leaseSec: o.leaseSec,
          previous: upstream,
        });
      if (stopped) return;
      logger.debug({ protocol: mapping.protocol, external: mapping.external }, 'nat: port mapping renewed');
      publish({
        mapping,
        upstream,
        info: infoFor(mapping, upstream),
        gatewayBehindNat,
        errors: state.errors,
      });
    } catch (error) {
      if (stopped) return;
      logger.warn({ err: message(error) }, 'nat: port mapping renewal failed; retrying');
      // Keep the old mapping until its lease runs out; retry sooner.
      renewTimer = clock.setTimer(30_000, () => void renew());
      return;
    }
    scheduleRenewal();
  };

  const tryUpstream = async (
    mapping: PortMapping,
    errors: string[],
  ): Promise<{ client: MappingClient; mapping: PortMapping } | null> => {
    for (const server of o.upstreamPcp ?? []) {
      // Our request leaves the home NAT from its external address: that is the client PCP sees.
      const client = createPcpClient(
        { server, internalHost: mapping.external.host, timeoutMs: o.timeoutMs },
        components,
      );
      try {
        const upstream = await client.map({ internalPort: mapping.external.port, leaseSec: o.leaseSec });
        return { client, mapping: upstream };
      } catch (error) {
        errors.push(`upstream ${message(error)}`);
      }
    }
    return null;
  };

  return {
    async start(signal) {
      const errors: string[] = [];
      const candidates = o.protocols.map((p) => ({ protocol: p, client: clients[p]() }));
      // Probe in parallel; mapping itself goes through one protocol at a time so two protocols never
      // fight over the same internal port on the same gateway.
      const probes = await settledSoonAfterFirst(
        candidates.map((c) => c.client.probe(signal)),
        clock,
      );
      const available = candidates.filter((c, i) => {
        const outcome = probes[i];
        if (outcome === undefined) {
          errors.push(`${c.protocol}: no answer before another protocol's; not waited for`);
          return false;
        }
        if (outcome.status === 'rejected') {
          errors.push(message(outcome.reason));
          if (outcome.reason instanceof GatewayBehindNatError) gatewayBehindNat = true;
        } else {
          const external = outcome.value.externalHost;
          if (external && external !== '0.0.0.0' && isNonPublicIPv4(external)) gatewayBehindNat = true;
        }
        return outcome.status === 'fulfilled';
      });
      for (const { client } of available) {
        if (stopped) break;
        try {
          const mapping = await client.map({ internalPort: o.internalPort, leaseSec: o.leaseSec }, signal);
          const probe = probes[candidates.findIndex((c) => c.client === client)];
          if (
            mapping.external.host === '0.0.0.0' &&
            probe?.status === 'fulfilled' &&
            probe.value.externalHost
          )
            mapping.external = { ...mapping.external, host: probe.value.externalHost };
          let upstream: { client: MappingClient; mapping: PortMapping } | null = null;
          if (isNonPublicIPv4(mapping.external.host)) {
            gatewayBehindNat = true;
            errors.push(
              `${mapping.protocol} mapping ${mapping.external.host}:${mapping.external.port} is behind another NAT (NAT444): mapped but not reachable`,
            );
            upstream = await tryUpstream(mapping, errors);
          }
          active = { client, upstreamClient: upstream?.client ?? null };
          publish({
            mapping,
            upstream: upstream?.mapping ?? null,
            info: infoFor(mapping, upstream?.mapping ?? null),
            gatewayBehindNat,
            errors,
          });
          scheduleRenewal();
          if (stopped) await this.stop();
          return state;
        } catch (error) {
          errors.push(message(error));
        }
      }
      publish({ mapping: null, upstream: null, info: null, gatewayBehindNat, errors });
      return state;
    },
    current: () => state,
    onChange(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async stop() {
      stopped = true;
      if (renewTimer) clock.clearTimer(renewTimer);
      const { mapping, upstream } = state;
      const current = active;
      active = null;
      if (!current) return;
      const removals: Promise<void>[] = [];
      if (upstream && current.upstreamClient) removals.push(current.upstreamClient.unmap(upstream));
      if (mapping) removals.push(current.client.unmap(mapping));
      const results = await Promise.allSettled(removals);
      for (const r of results)
        if (r.status === 'rejected')
          logger.warn({ err: message(r.reason) }, 'nat: could not remove port mapping');
      publish({ mapping: null, upstream: null, info: null, gatewayBehindNat, errors: state.errors });
    },
  };
}

/**
 * The outcomes of promises that answered by the time the first one fulfilled plus as long again
 * (undefined for those still pending); all of them if none fulfils. A gateway speaks one or two of
 * the mapping protocols and answers those within a round trip of each other: waiting for the
 * others' timeouts held every mapped device's NAT probe, and its registration for punching, 2 s.
 * The grace keeps the order of preference among the protocols that do answer.
 */
async function settledSoonAfterFirst<T>(
  promises: Array<Promise<T>>,
  clock: Clock,
): Promise<Array<PromiseSettledResult<T> | undefined>> {
  const started = clock.now();
  const outcomes: Array<PromiseSettledResult<T> | undefined> = promises.map(() => undefined);
  const all = Promise.all(
    promises.map((p, i) =>
      p.then(
        (value) => {
          outcomes[i] = { status: 'fulfilled', value };
        },
        (reason: unknown) => {
          outcomes[i] = { status: 'rejected', reason };
        },
      ),
    ),
  );
  const firstFulfilled = await Promise.any(promises).then(
    () => true,
    () => false,
  );
  if (firstFulfilled) {
    const graceMs = Math.max(GRACE_FLOOR_MS, clock.now() - started);
    await withTimeout(clock, graceMs, all, () => new Error('grace over')).catch(() => undefined);
  } else await all;
  return [...outcomes];
}

/** Least extra wait for a preferred protocol after another answered (a LAN round trip or two). */
const GRACE_FLOOR_MS = 50;
