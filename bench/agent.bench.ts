/**
 * Agent flash crowd on the simulated network (virtual time): 50 devices in one ISP, one edge, a CDN,
 * the real tracker. Measures infrastructure bytes (edge + CDN egress to devices) as a multiple of one
 * copy, and median / p95 completion against the fluid lower bound of the same run,
 * T* = max(F/u_s, F/d_min, N·F/(u_s + Σu_i)) (Kumar & Ross), with u_s = CDN cap + edge cap.
 * Baseline in the same run: the same crowd with peers disabled (client-server from the CDN/edge).
 */

import { labKeyPair } from '../lab/run/release.ts';
import { publishFixture } from '../test/agent/fixture-release.ts';
import { buildWorld } from '../test/agent/sim/harness.ts';
import { writeBenchReport } from './lib/report.ts';

const N = Number(process.env.AGENT_BENCH_DEVICES ?? 50);
// 8 MiB, the size of the lab's flash-crowd release. Firmware is tens of MB upward; at 2 MiB the fluid
// bound is 1.6 s, so fixed start-up costs (channel + manifest + announce + sessions, a few hundred ms
// that do not shrink with the file) dominate the ratio. 8 MiB keeps the run to a few minutes.
const SIZE = Number(process.env.AGENT_BENCH_BYTES ?? 8 * 1024 * 1024);
const PIECE = 64 * 1024;
const DOWN = 20_000_000; // bits/s per device
const UP = 10_000_000;
const CDN_BPS = 10_000_000; // bits/s: a CDN under a flash crowd
const EDGE_BPS = 10_000_000;

async function crowd(peers: boolean) {
  // The signing key derives from the seed: with a fresh key per run the gzipped documents' sizes on the
  // CDN differed by a few bytes, and with them every timing after (p95 1.488-1.521x across three runs).
  const fixture = publishFixture({
    size: SIZE,
    pieceLength: PIECE,
    seed: 77,
    nowMs: Date.UTC(2026, 0, 1),
    keyPair: labKeyPair(77),
  });
  const world = await buildWorld({
    fixture,
    devices: N,
    seed: 9,
    deviceDownBps: DOWN,
    deviceUpBps: UP,
    cdnRateBps: CDN_BPS / 8,
    edge: { capacityBytesPerSecond: EDGE_BPS / 8 },
    policy: peers ? { seedRatio: null, seedSeconds: 3600 } : { maxPeers: 0, seedRatio: null },
  });
  const started = Date.now();
  world.startAll(0);
  const run = await world.sim.run({ until: () => world.devices.every((d) => d.done), deadlineMs: 1_800_000 });
  const realMs = Date.now() - started;
  const failed = world.devices.filter((d) => d.error || !d.summary);
  const times = world.devices
    .filter((d) => d.summary)
    .map((d) => d.summary!.completionMs / 1000)
    .sort((a, b) => a - b);
  const infra = world.devices.reduce(
    (s, d) => s + (d.summary ? d.summary.bytesBySource.cdn + d.summary.bytesBySource.edge : 0),
    0,
  );
  const peerBytes = world.devices.reduce(
    (s, d) =>
      s +
      (d.summary ? d.summary.bytesBySource['peer-same-isp'] + d.summary.bytesBySource['peer-other-isp'] : 0),
    0,
  );
  const manifestsFromPeers = world.devices.filter((d) => d.summary?.manifestFrom === 'peer').length;
  await world.sim.settle(Promise.all(world.devices.map((d) => d.agent.stop())));
  const q = (p: number) =>
    times[Math.min(times.length - 1, Math.floor(p * (times.length - 1)))] ?? Number.NaN;
  return {
    run,
    realMs,
    failed: failed.length,
    median: q(0.5),
    p95: q(0.95),
    infraCopies: infra / SIZE,
    peerCopies: peerBytes / SIZE,
    manifestsFromPeers,
  };
}

const F = SIZE * 8;
const us = CDN_BPS + EDGE_BPS;
const bound = Math.max(F / us, F / DOWN, (N * F) / (us + N * UP));

const baseline = await crowd(false);
const swarm = await crowd(true);

writeBenchReport({
  name: 'agent',
  baseline: {
    clientServerMedian: {
      name: 'median completion, peers off (client-server)',
      value: baseline.median,
      unit: 's',
    },
    clientServerP95: { name: 'p95 completion, peers off', value: baseline.p95, unit: 's' },
    clientServerInfra: {
      name: 'infrastructure bytes, peers off',
      value: baseline.infraCopies,
      unit: 'copies',
    },
    fluidBound: { name: 'fluid lower bound max(F/u_s, F/d_min, N·F/(u_s+Σu_i))', value: bound, unit: 's' },
  },
  figures: [
    { name: 'devices', value: N, unit: 'devices' },
    { name: 'file size', value: SIZE, unit: 'bytes' },
    { name: 'median completion', value: swarm.median, unit: 's' },
    { name: 'p95 completion', value: swarm.p95, unit: 's' },
    { name: 'peer bytes', value: swarm.peerCopies, unit: 'copies' },
    { name: 'devices failed', value: swarm.failed, unit: 'devices' },
    { name: 'devices that took the manifest from peers', value: swarm.manifestsFromPeers, unit: 'devices' },
    { name: 'real time of the swarm run', value: swarm.realMs / 1000, unit: 's' },
    { name: 'simulation events of the swarm run', value: swarm.run.events, unit: 'events' },
  ],
  targets: [
    {
      name: 'infrastructure bytes (edge + CDN)',
      target: '<= 1.5 copies',
      actual: swarm.infraCopies,
      unit: 'copies',
      met: swarm.infraCopies <= 1.5 && swarm.failed === 0,
    },
    {
      name: 'p95 completion / fluid bound',
      target: '<= 1.5 x',
      actual: swarm.p95 / bound,
      unit: 'x',
      met: swarm.p95 / bound <= 1.5 && swarm.failed === 0,
    },
  ],
  notes: [
    `links: devices ${DOWN / 1e6}/${UP / 1e6} Mbit/s down/up, CDN capped at ${CDN_BPS / 1e6} Mbit/s, edge at ${EDGE_BPS / 1e6} Mbit/s; all devices start at t=0`,
    `median / fluid bound = ${(swarm.median / bound).toFixed(2)} x; client-server p95 / bound = ${(baseline.p95 / bound).toFixed(2)} x`,
    `file size ${SIZE} bytes (AGENT_BENCH_BYTES): 8 MiB by default because at 2 MiB the bound is 1.6 s and fixed start-up costs of a few hundred ms dominate; the bound is computed for the size actually run`,
    'for comparison, 2 MiB before the infrastructure-gate work (0b867a4): infra 3.0 copies, median 5.68 s, p95 6.08 s, bound 1.61 s, p95/bound 3.77 x',
    'where the time goes (instrumented runs of this crowd, same seeds; session 5): devices trade from 0.9-1.9 s (tracker and CDN round trips, 50 manifests of 9 KB through the 10 Mbit/s CDN, then the first infrastructure pieces); from ~4.5 s to the first completion the uplinks are 94-95 % busy; device UDP bytes are ~1.2x the useful peer piece bytes (retransmissions after uplink queue drops ~7-9 %, ACK, have and request packets and headers the rest), so the transfer alone takes ~1.2/0.95 of the aggregate-upload term',
    'fixed in session 5: endgame raced every outstanding request (37-52 MB of 448-463 MB peer piece bytes were duplicates, now < 2 MB); unchoke sets from the first 10-s choke round held for the whole download (devices unchoked by 1 to 19 peers), now 2-s rounds',
    'session 6 (instrumented runs, same seeds): device datagrams 1.50 M -> 0.68 M (haves and relayed suggests had been one datagram each, plus an ACK each: ~5,000 per device per second in the first seconds, a third of every uplink); completions spread 8.2-10.8 s with devices unchoked by 5 to 14 peers, now 2 regular slots go to the peers furthest behind; the swarm is joined while the manifest downloads (the manifest arrives at 0.50 s for every device: 50 x 9 KB shared through the 10 Mbit/s CDN)',
    "session 7: the manifest from peers (agent/net/manifest-exchange.ts) does not apply to this crowd: every device starts at t=0, so no listed peer holds pieces when the tracker first answers and each takes its manifest from the CDN at once, as before. Only the exchange's HAVE blocks and handshake flags ride on the sessions; at 75cc3a6: infra 1.133 -> 1.031 copies, p95 1.496 -> 1.481 x, a shift of start-up timing rather than a saving by design",
    'left (session 6): nothing trades before ~0.75 s (manifest 0.50 s + hold + first infrastructure piece) and uplinks ramp from 30 % at 1.4 s to 92 % at 3.2 s; infrastructure pieces of the first gate rounds share the CDN and edge links and land together (infraRoundClaims 32 per 250 ms is ~3x what 20 Mbit/s delivers; 10 per round measured p95 9.71-9.73 s); ~13 K uplink queue drops (~3 % of bytes resent)',
  ],
});
