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
/** Round trips of the measured path to wait for an answer a filtering NAT may drop (see silenceWaitMs). */
const SILENCE_RTTS = 3;

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
  const bind = (
    server: Address,
    change?: { changeIp?: boolean; changePort?: boolean },
    budgetMs = timeoutMs,
  ) => client.binding(server, { timeoutMs: budgetMs, rtoMs, ...change });

  const servers = dedupe(options.servers);
  const observations: NatClassification['observations'] = [];
  const ok: Array<{ server: Address; result: BindingResult }> = [];
  const record = (server: Address, outcome: PromiseSettledResult<BindingResult>): void => {
    if (outcome.status === 'fulfilled') {
      observations.push({ server, reflexive: outcome.value.reflexive });
      ok.push({ server, result: outcome.value });
    } else {
      const message = outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason);
      observations.push({ server, reflexive: null, error: message });
      errors.push(message);
    }
  };
  const isLocal = (a: Address): boolean => (options.local ?? []).some((l) => sameAddress(l, a));
  /**
   * How long to wait for an answer that only a permissive NAT lets through (a CHANGE-REQUEST answer
   * from another address, our own hairpinned request). Most NATs filter, so silence is the common
   * answer, and waiting out the whole transaction budget for it held every filtered device's probe
   * (and its rendezvous registration, which waits for the probe) 2 s, whatever its round trip to
   * the server. A few round trips of the path the first answer measured are enough: the answer
   * comes from the same server's site, and the retransmission after `rtoMs` covers a lost datagram.
   */
  const silenceWaitMs = (rttMs: number): number =>
    Math.min(timeoutMs, Math.max(SILENCE_RTTS * rttMs, rttMs + 2 * rtoMs));

  // ---- filtering ---- runs before anything else could open the filter for the alternate address
  // (a second listed server may well be the first one's partner), so the first server goes alone.
  let filtering: FilteringBehaviour = 'unknown';
  let filteringTested = false;
  const testFiltering = async (target: { server: Address; result: BindingResult }): Promise<void> => {
    filteringTested = true;
    const wait = silenceWaitMs(target.result.rttMs);
    const [both, portOnly] = await Promise.allSettled([
      bind(target.server, { changeIp: true, changePort: true }, wait),
      bind(target.server, { changePort: true }, wait),
    ]);
    const refused = (o: PromiseSettledResult<unknown>): boolean =>
      o.status === 'rejected' && o.reason instanceof StunErrorResponse;
    if (both.status === 'fulfilled') {
      filtering = isLocal(target.result.reflexive) ? 'none' : 'endpoint-independent';
    } else if (refused(both)) {
      errors.push(`filtering unknown: ${(both.reason as Error).message}`);
    } else if (portOnly.status === 'fulfilled') {
      filtering = 'address-dependent';
    } else if (refused(portOnly)) {
      // Typical of two cooperating single-socket servers: they can change the IP, not the port.
      errors.push('filtering is address-dependent or stricter; the STUN server cannot change only its port');
    } else {
      filtering = 'address-and-port-dependent';
    }
  };
  // The hairpin test (our own reflexive address, a few round trips of silence on most NATs) runs
  // beside the rest once the first answer told us that address: it opens no filter for a server.
  let hairpinTest: Promise<boolean> | null = null;
  if (servers[0]) {
    const [outcome] = await Promise.allSettled([bind(servers[0])]);
    record(servers[0], outcome!);
    const answer = ok[0]?.result;
    if (answer && !isLocal(answer.reflexive) && options.hairpin !== false)
      hairpinTest = testHairpin(answer.reflexive, Math.min(1000, silenceWaitMs(answer.rttMs)), components);
    if (answer?.otherAddress) await testFiltering(ok[0]!);
  }
  const rest = servers.slice(1);
  const settled = await Promise.allSettled(rest.map((s) => bind(s)));
  settled.forEach((outcome, i) => {
    record(rest[i]!, outcome);
  });
  if (!filteringTested) {
    const rfc5780 = ok.find((o) => o.result.otherAddress);
    if (rfc5780) await testFiltering(rfc5780);
    else errors.push('filtering unknown: no STUN server offers RFC 5780 CHANGE-REQUEST (OTHER-ADDRESS)');
  }

  const first = ok[0];
  if (!first) {
    return { mapping: 'unknown', filtering: 'unknown', reflexive: null, hairpin: null, observations, errors };
  }
  const reflexive = first.result.reflexive;
  const behindNat = !isLocal(reflexive);

  // ---- mapping ----
  let mapping: MappingBehaviour = 'unknown';
  const otherIp = ok.find((o) => o.server.host !== first.server.host);
  const sameIpOtherPort = async (): Promise<Address | null> => {
    const known = ok.find((o) => o.server.host === first.server.host && o.server.port !== first.server.port);
    if (known) return known.result.reflexive;
    const alt = first.result.otherAddress;
    // A partner server may share our server's port: then there is no "same IP, other port" to ask.
    if (!alt || alt.port === first.server.port) return null;
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
    // The first server did not answer: the reflexive address came from a later one.
    hairpin = await (hairpinTest ??
      testHairpin(reflexive, Math.min(1000, silenceWaitMs(first.result.rttMs)), components));
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
