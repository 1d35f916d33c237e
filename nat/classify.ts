import {
  type Address,
  type Clock,
  formatAddress,
  type Random,
  sameAddress,
  type TimerHandle,
} from '../runtime/index.ts';
import type { DatagramChannel } from './channel.ts';
import type { FilteringBehaviour, MappingBehaviour } from './report.ts';
import { type BindingResult, type StunClient, StunErrorResponse } from './stun/client.ts';
import { decodeStun, encodeStun, looksLikeStun, StunMethod, sameTransaction } from './stun/codec.ts';

export interface ClassifyOptions {
  /** STUN servers; at least two on different IPs give the mapping class, RFC 5780 servers the filtering. */
  servers: Address[];
  /** The socket's own addresses (LAN interface addresses + bound port): a reflexive match means no NAT. */
  local?: Address[];
  /** Budget for each STUN transaction (default 1500 ms). */
  timeoutMs?: number;
  /** Initial RTO (default 250 ms: probing is interactive, we would rather finish fast than be polite). */
  rtoMs?: number;
  /** Test whether the NAT hairpins (sends to our own reflexive address). Default true. */
  hairpin?: boolean;
}

export interface NatClassification {
  mapping: MappingBehaviour;
  filtering: FilteringBehaviour;
  reflexive: Address | null;
  hairpin: boolean | null;
  /** What each server told us, for the report and for debugging. */
  observations: Array<{ server: Address; reflexive: Address | null; error?: string }>;
  errors: string[];
}

const DEFAULT_TIMEOUT = 1500;

/**
 * RFC 5780 behaviour discovery. Mapping: compare the reflexive address seen by servers on different IPs
 * (same => endpoint-independent), then by the same IP on another port (same => address-dependent,
 * else address-and-port-dependent). Filtering: ask a server with an alternate address to answer from
 * another IP and port (arrives => endpoint-independent), else from another port only (arrives =>
 * address-dependent), else address-and-port-dependent.
 */
export async function classifyNat(
  options: ClassifyOptions,
  components: { client: StunClient; channel: DatagramChannel; clock: Clock; random: Random },
): Promise<NatClassification> {
  const { client } = components;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT;
  const rtoMs = options.rtoMs ?? 250;
  const errors: string[] = [];
  const bind = (server: Address, change?: { changeIp?: boolean; changePort?: boolean }) =>
    client.binding(server, { timeoutMs, rtoMs, ...change });

  const servers = dedupe(options.servers);
  const settled = await Promise.allSettled(servers.map((s) => bind(s)));
  const observations: NatClassification['observations'] = [];
  const ok: Array<{ server: Address; result: BindingResult }> = [];
  settled.forEach((outcome, i) => {
    const server = servers[i]!;
    if (outcome.status === 'fulfilled') {
      observations.push({ server, reflexive: outcome.value.reflexive });
      ok.push({ server, result: outcome.value });
    } else {
      const message = outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason);
      observations.push({ server, reflexive: null, error: message });
      errors.push(message);
    }
  });
  const first = ok[0];
  if (!first) {
    return { mapping: 'unknown', filtering: 'unknown', reflexive: null, hairpin: null, observations, errors };
  }
  const reflexive = first.result.reflexive;
  const behindNat = !(options.local ?? []).some((l) => sameAddress(l, reflexive));

  // ---- filtering ---- (first: the mapping probes below would open the filter for the alternate address)
  let filtering: FilteringBehaviour = 'unknown';
  const rfc5780 = ok.find((o) => o.result.otherAddress);
  if (!rfc5780) {
    errors.push('filtering unknown: no STUN server offers RFC 5780 CHANGE-REQUEST (OTHER-ADDRESS)');
  } else {
    const [both, portOnly] = await Promise.allSettled([
      bind(rfc5780.server, { changeIp: true, changePort: true }),
      bind(rfc5780.server, { changePort: true }),
    ]);
    const refused = [both, portOnly].find(
      (o) => o.status === 'rejected' && o.reason instanceof StunErrorResponse,
    ) as PromiseRejectedResult | undefined;
    if (refused) {
      errors.push(`filtering unknown: ${(refused.reason as Error).message}`);
    } else if (both.status === 'fulfilled') {
      filtering = behindNat ? 'endpoint-independent' : 'none';
    } else if (portOnly.status === 'fulfilled') {
      filtering = 'address-dependent';
    } else {
      filtering = 'address-and-port-dependent';
    }
  }

  // ---- mapping ----
  let mapping: MappingBehaviour = 'unknown';
  const otherIp = ok.find((o) => o.server.host !== first.server.host);
  const sameIpOtherPort = async (): Promise<Address | null> => {
    const known = ok.find((o) => o.server.host === first.server.host && o.server.port !== first.server.port);
    if (known) return known.result.reflexive;
    const alt = first.result.otherAddress;
    if (!alt) return null;
    try {
      return (await bind({ host: first.server.host, port: alt.port })).reflexive;
    } catch (error) {
      errors.push((error as Error).message);
      return null;
    }
  };
  if (!behindNat) {
    mapping = 'none';
  } else {
    let otherIpReflexive = otherIp?.result.reflexive;
    if (!otherIpReflexive && first.result.otherAddress) {
      try {
        otherIpReflexive = (await bind(first.result.otherAddress)).reflexive;
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
    if (!otherIpReflexive) {
      errors.push('mapping unknown: need a second STUN server on another IP (or one with OTHER-ADDRESS)');
    } else if (sameAddress(otherIpReflexive, reflexive)) {
      mapping = 'endpoint-independent';
    } else {
      const portProbe = await sameIpOtherPort();
      if (portProbe === null) {
        // Both are "hard" for punching; say the stricter one and why.
        mapping = 'address-and-port-dependent';
        errors.push(
          'mapping varies by destination; no second port on one server to tell address- from port-dependence',
        );
      } else {
        mapping = sameAddress(portProbe, reflexive) ? 'address-dependent' : 'address-and-port-dependent';
      }
    }
  }

  let hairpin: boolean | null = null;
  if (behindNat && options.hairpin !== false) {
    hairpin = await testHairpin(reflexive, Math.min(timeoutMs, 1000), components);
  }
  return { mapping, filtering, reflexive, hairpin, observations, errors };
}

/** RFC 5780 §4.6: send a Binding request to our own reflexive address and see if it comes back to us. */
function testHairpin(
  reflexive: Address,
  timeoutMs: number,
  components: { channel: DatagramChannel; clock: Clock; random: Random },
): Promise<boolean> {
  const { channel, clock, random } = components;
  const transactionId = random.bytes(12);
  const probe = encodeStun({ method: StunMethod.binding, class: 'request', transactionId });
  return new Promise((resolve) => {
    const timers: TimerHandle[] = [];
    const done = (value: boolean): void => {
      off();
      for (const t of timers) clock.clearTimer(t);
      resolve(value);
    };
    const off = channel.onMessage((bytes) => {
      if (!looksLikeStun(bytes)) return;
      try {
        if (sameTransaction(decodeStun(bytes).transactionId, transactionId)) done(true);
      } catch {
        // not ours
      }
    });
    channel.send(reflexive, probe);
    timers.push(clock.setTimer(timeoutMs / 3, () => channel.send(reflexive, probe)));
    timers.push(clock.setTimer(timeoutMs, () => done(false)));
  });
}

function dedupe(addresses: Address[]): Address[] {
  const seen = new Set<string>();
  return addresses.filter((a) => {
    const k = formatAddress(a);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
