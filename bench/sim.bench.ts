/**
 * Scheduler + network throughput of the simulated internet (issue 3).
 *
 * Baseline (same run): a bare binary-heap event loop firing no-op events, i.e. the cost floor of
 * any discrete-event simulator in this process. Figures: events/s and delivered packets/s of full
 * scenarios where N devices in NATed homes (10 ISPs, 2 regions, broadband access links) each send
 * 1,000 datagrams of 1,200 bytes to peers every 10 ms, for N = 10, 100, 1000.
 * Target: 1000 hosts x 1000 packets in < 30 s wall.
 */

import { loadavg } from 'node:os';
import { EventHeap, type SimEvent } from '../lab/sim/heap.ts';
import { createSimulation, natPresets, type SimHost } from '../lab/sim/index.ts';
import { type Figure, type Target, writeBenchReport } from './lib/report.ts';

function baselineHeapEventsPerSecond(events: number): number {
  const heap = new EventHeap();
  let fired = 0;
  const fn = (): void => {
    fired++;
  };
  const start = performance.now();
  let seq = 0;
  // Keep ~1000 pending events, like 1000 hosts with one timer each.
  for (let i = 0; i < 1000; i++) heap.push(event(++seq, Math.random() * 10, fn));
  while (fired < events) {
    const e = heap.pop()!;
    e.fn(e.arg);
    heap.push(event(++seq, e.time + 10, fn));
  }
  return events / ((performance.now() - start) / 1000);
}

function event(seq: number, time: number, fn: () => void): SimEvent {
  return { id: seq, seq, time, fn, arg: undefined, cancelled: false };
}

interface ScenarioResult {
  hosts: number;
  wallMs: number;
  /** CPU time of this process during the run: what the run costs when the machine is shared. */
  cpuMs: number;
  events: number;
  sent: number;
  delivered: number;
  virtualSeconds: number;
}

async function scenario(
  hostCount: number,
  packetsPerHost: number,
  drain: 'sync' | 'turn' = 'sync',
): Promise<ScenarioResult> {
  const sim = createSimulation({ seed: 2026, drain });
  const regions = [sim.addRegion({ name: 'eu' }), sim.addRegion({ name: 'us', link: { delayMs: 40 } })];
  const isps = Array.from({ length: 10 }, (_, i) => sim.addIsp({ name: `isp${i}`, region: regions[i % 2]! }));
  const hosts: SimHost[] = [];
  for (let i = 0; i < hostCount; i++) {
    const gateway = sim.addGateway({
      isp: isps[i % isps.length]!,
      nat: natPresets.fullCone,
      link: { delayMs: 8, up: { bandwidthBps: 10e6 }, down: { bandwidthBps: 50e6 } },
    });
    hosts.push(sim.addHost({ gateway }));
  }
  const sockets = await Promise.all(hosts.map((h) => h.udp.bind({ port: 7000 })));
  let delivered = 0;
  for (const s of sockets) s.onMessage(() => delivered++);
  // Open each NAT mapping towards the world (a full-cone NAT then accepts anyone), as STUN would.
  const opener = await sim.addServer({ name: 'rendezvous', region: regions[0]! }).udp.bind({ port: 1 });
  for (const s of sockets) s.send(opener.localAddress(), new Uint8Array(1));
  await sim.run();
  const publicAddress = hosts.map((h) => ({ host: h.gateway!.wanAddress, port: 7000 }));
  const payload = new Uint8Array(1200 - 28);
  hosts.forEach((host, i) => {
    const socket = sockets[i]!;
    let sent = 0;
    let peer = i;
    const tick = (): void => {
      peer = (peer + 1 + host.random.int(7)) % hostCount;
      if (peer === i) peer = (peer + 1) % hostCount;
      socket.send(publicAddress[peer]!, payload);
      if (++sent < packetsPerHost) sim.clock.setTimer(10, tick);
    };
    sim.clock.setTimer(host.random.float() * 10, tick);
  });
  const before = sim.stats();
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const t0 = sim.now();
  await sim.run();
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  const after = sim.stats();
  return {
    hosts: hostCount,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    events: after.events - before.events,
    sent: after.sent - before.sent,
    delivered,
    virtualSeconds: (sim.now() - t0) / 1000,
  };
}

const baseline = baselineHeapEventsPerSecond(2_000_000);
const figures: Figure[] = [];
const targets: Target[] = [];
const results: ScenarioResult[] = [];
for (const n of [10, 100, 1000]) {
  const r = await scenario(n, 1000);
  results.push(r);
  const eventsPerSecond = r.events / (r.wallMs / 1000);
  const packetsPerSecond = r.sent / (r.wallMs / 1000);
  figures.push(
    { name: `${n} hosts x 1000 packets: wall time`, value: r.wallMs / 1000, unit: 's' },
    { name: `${n} hosts x 1000 packets: CPU time`, value: r.cpuMs / 1000, unit: 's' },
    { name: `${n} hosts: events/s`, value: Math.round(eventsPerSecond), unit: 'events/s' },
    { name: `${n} hosts: simulated packets/s`, value: Math.round(packetsPerSecond), unit: 'packets/s' },
    { name: `${n} hosts: events/s vs bare heap`, value: eventsPerSecond / baseline, unit: 'x' },
    { name: `${n} hosts: delivered`, value: r.delivered / r.sent, unit: 'fraction' },
    { name: `${n} hosts: virtual time simulated`, value: r.virtualSeconds, unit: 's' },
    { name: `${n} hosts: speed vs real time`, value: r.virtualSeconds / (r.wallMs / 1000), unit: 'x' },
  );
}
// The same 100-host run with an event-loop turn per instant instead of the synchronous drain.
const turn = await scenario(100, 1000, 'turn');
const sync100 = results.find((r) => r.hosts === 100)!;
figures.push(
  { name: '100 hosts, drain=turn: CPU time', value: turn.cpuMs / 1000, unit: 's' },
  { name: '100 hosts: CPU time turn / sync', value: turn.cpuMs / sync100.cpuMs, unit: 'x' },
);
const big = results.at(-1)!;
targets.push({
  name: '1000 hosts x 1000 packets',
  target: '< 30 s wall',
  actual: big.wallMs / 1000,
  unit: 's',
  met: big.wallMs < 30_000,
});
targets.push({
  name: '1000 hosts x 1000 packets, CPU time of the run (machine shared with other jobs)',
  target: '< 30 s',
  actual: big.cpuMs / 1000,
  unit: 's',
  met: big.cpuMs < 30_000,
});
const perPacketUs = results.map((r) => `${r.hosts}: ${((r.wallMs * 1000) / r.sent).toFixed(2)} us/packet`);
writeBenchReport({
  name: 'sim',
  baseline: {
    heap: { name: 'bare heap event loop (no-op events)', value: Math.round(baseline), unit: 'events/s' },
  },
  figures,
  targets,
  notes: [
    `wall time per packet by host count (the scaling curve): ${perPacketUs.join(', ')}`,
    `CPU time per packet: ${results.map((r) => `${r.hosts}: ${((r.cpuMs * 1000) / r.sent).toFixed(2)} us`).join(', ')}`,
    `load average during the run (2 cores): ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')}; wall time exceeds CPU time by the share of the cores other jobs took`,
    'each packet crosses LAN, home NAT, access link, ISP, region/core, access link, home NAT; 2-3 events per packet plus the sender timer',
  ],
});
