/**
 * Link emulation for a real-kernel path, as a drop-in for `lab.veth(a, aIf, b, bIf)`: the two ends
 * are joined through a small "wire" namespace that behaves like a transparent Ethernet cable with
 *   - latency: a user-space delay line between two TAP devices (delayline.c; this kernel has no netem),
 *   - rate: a `tbf` qdisc on each egress toward an end (the bottleneck and its buffer),
 *   - loss: an nftables bridge rule `numgen random mod 1000000 < p` dropping IP frames.
 *
 *   a[aIf] ── va ─ bra ─ ta ⇄ delayline ⇄ tb ─ brb ─ vb ── b[bIf]        (inside namespace w<name>)
 *                  tbf on va (b→a) and vb (a→b); drops on frames leaving ta/tb onto the bridges
 *
 * Being layer 2, the wire needs no addresses or routes: whatever addressing a and b use just works.
 */
import { hasBinary, type Namespace, type NetnsLab } from '../netns/index.ts';
import { delayLineBinary } from './delayline.ts';
import { RealnetError } from './errors.ts';

/** One emulated path, the same in both directions. */
export interface LinkProfile {
  /** Bottleneck rate, bits/s, each direction. 0 or unset = unlimited. */
  rateBps?: number;
  /** Rate of the direction b -> a (toward a), overriding rateBps: e.g. a device's upload. */
  rateToABps?: number;
  /** Rate of the direction a -> b (toward b), overriding rateBps: e.g. a device's download. */
  rateToBBps?: number;
  /** Round-trip time added by the wire, ms (half each way). Default 0. */
  rttMs?: number;
  /** Probability that a packet is dropped, each direction independently. Default 0. */
  loss?: number;
  /** Bottleneck buffer, bytes. Default one bandwidth-delay product, at least 64 KiB. */
  queueBytes?: number;
}

export interface EmulatedWire {
  readonly namespace: Namespace;
  /** Frames the wire's loss rule dropped so far (both directions). */
  droppedPackets(): Promise<number>;
}

const LOSS_SCALE = 1_000_000;
const DELAY_LINE_RT_PRIORITY = 20;

export function validateProfile(profile: LinkProfile): void {
  const { rateBps = 0, rttMs = 0, loss = 0 } = profile;
  if (
    !(rateBps >= 0) ||
    !((profile.rateToABps ?? 0) >= 0) ||
    !((profile.rateToBBps ?? 0) >= 0) ||
    !(rttMs >= 0) ||
    !(loss >= 0 && loss < 1)
  )
    throw new RealnetError(
      'LINK_PROFILE_INVALID',
      `invalid link profile rate=${rateBps} rtt=${rttMs} loss=${loss} (need rate >= 0, rtt >= 0, 0 <= loss < 1)`,
    );
}

/** tbf arguments for a rate; buffer sized to hold one BDP so TCP is not starved by a tiny queue. */
export function tbfArgs(profile: LinkProfile, rateBps = profile.rateBps ?? 0): string[] {
  const rate = Math.round(rateBps);
  const bdp = Math.round((rate / 8) * (Math.max(profile.rttMs ?? 0, 20) / 1000));
  const limit = Math.max(profile.queueBytes ?? bdp, 64 * 1024);
  // burst must cover a timer tick's worth of bytes at this rate, and at least a few full frames.
  const burst = Math.max(Math.round(rate / 8 / 250), 4 * 1514);
  return ['rate', `${rate}bit`, 'burst', String(burst), 'limit', String(limit)];
}

export function lossRuleset(loss: number): string {
  const threshold = Math.round(loss * LOSS_SCALE);
  // Counted on the frames coming out of the delay line, so each frame is judged once per direction.
  return `table bridge wire {
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname { "ta", "tb" } ether type ip numgen random mod ${LOSS_SCALE} < ${threshold} counter drop
  }
}
`;
}

/**
 * Bridges hand IPv4 frames to netfilter when br_netfilter is loaded (bridge-nf-call-iptables, per
 * namespace); then a router's forward policy would drop LAN-to-LAN frames that a home switch simply
 * forwards. Lab switches are plain switches: turn it off where we bridge.
 */
export async function plainBridging(ns: Namespace): Promise<void> {
  for (const key of ['bridge-nf-call-iptables', 'bridge-nf-call-ip6tables', 'bridge-nf-call-arptables'])
    await ns.sysctl(`net.bridge.${key}`, '0').catch(() => undefined);
}

export async function emulatedWire(
  lab: NetnsLab,
  name: string,
  a: Namespace,
  aIf: string,
  b: Namespace,
  bIf: string,
  profile: LinkProfile,
): Promise<EmulatedWire> {
  validateProfile(profile);
  const binary = await delayLineBinary();
  const wire = await lab.namespace(`w${name}`);
  await plainBridging(wire);
  await lab.veth(a, aIf, wire, 'va');
  await lab.veth(wire, 'vb', b, bIf);
  const oneWayUs = Math.round(((profile.rttMs ?? 0) / 2) * 1000);
  // Real-time priority: on a busy machine a normally scheduled delay line waits for a CPU for tens of
  // ms, which adds jitter and bursts that no configured profile asked for. It sleeps in ppoll between
  // frames, so it takes little CPU, and the kernel's RT throttling bounds it anyway.
  const args = ['ta', 'tb', String(oneWayUs)];
  const line = hasBinary('chrt')
    ? wire.spawn('chrt', ['-f', String(DELAY_LINE_RT_PRIORITY), binary, ...args])
    : wire.spawn(binary, args);
  await line.waitForLine((l) => (l === 'ready' ? true : undefined), 10_000);
  await wire.up('ta');
  await wire.up('tb');
  await lab.bridge(wire, 'bra', ['va', 'ta']);
  await lab.bridge(wire, 'brb', ['vb', 'tb']);
  const rates: Array<[string, number]> = [
    ['va', profile.rateToABps ?? profile.rateBps ?? 0],
    ['vb', profile.rateToBBps ?? profile.rateBps ?? 0],
  ];
  for (const [dev, rate] of rates)
    if (rate > 0)
      await wire.exec('tc', ['qdisc', 'replace', 'dev', dev, 'root', 'tbf', ...tbfArgs(profile, rate)]);
  const loss = profile.loss ?? 0;
  if (loss > 0) await wire.nft(lossRuleset(loss));
  return {
    namespace: wire,
    async droppedPackets() {
      if (loss <= 0) return 0;
      const out = await wire.exec('nft', ['list', 'table', 'bridge', 'wire']);
      const match = /counter packets (\d+)/.exec(out);
      return match ? Number(match[1]) : 0;
    },
  };
}
