/**
 * PZ transport benchmark (issue 4). Four measurements, each against a baseline from the same run:
 *
 * 1. Loopback, two processes, real sockets: goodput of one PZ session (blocks) vs a raw node:dgram
 *    blast receiver, measured in three alternating pairs (median). Target >= 0.6 x raw.
 * 2. Simulated 20 Mbit/s, 300 ms RTT, 2 % random loss (both directions), 4 MB and 64 MB objects:
 *    BBR-like controller (warm smart start for the 4 MB case, cold for 64 MB) vs NewReno.
 *    Target: >= 85 % of 20 x 0.98 Mbit/s and >= 3 x NewReno.
 * 3. Time to first response byte from session start, in RTTs (the init reply). TCP + TLS 1.3 needs 2.
 * 4. Migration: delivery stall after the client's address changes, vs the PTO at that moment.
 *
 * Run: npm run bench:transport
 */
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import { cpus, loadavg } from 'node:os';
import { createSeededRandom, createSilentLogger } from '../runtime/index.ts';
import { createNodeClock, createNodeRandom, createNodeUdpNetwork } from '../runtime/node/index.ts';
import { createVirtualNet, type LinkSpec } from '../test/transport/util/virtual-net.ts';
import { aeadBackend } from '../transport/crypto.ts';
import { createEndpoint, createRateHistory, type Endpoint, type RateHistory } from '../transport/index.ts';
import { type Figure, type Target, writeBenchReport } from './lib/report.ts';

// ------------------------------------------------------------------ 1. loopback, two processes

/** Child: counts raw datagrams for the window the parent asks about. */
async function rawReceiver(): Promise<void> {
  const socket = dgram.createSocket('udp4');
  let bytes = 0;
  let first = 0;
  let last = 0;
  let cpu0 = process.cpuUsage();
  socket.on('message', (msg) => {
    const now = performance.now();
    if (bytes === 0) {
      first = now;
      cpu0 = process.cpuUsage();
    }
    last = now;
    bytes += msg.length;
  });
  socket.bind(0, '127.0.0.1', () => {
    socket.setRecvBufferSize(8 * 1024 * 1024);
    process.send?.({ port: socket.address().port });
  });
  process.on('message', (m: { report?: boolean }) => {
    if (m.report) {
      process.send?.({ bytes, seconds: (last - first) / 1000, cpuSeconds: cpuSecondsSince(cpu0) });
      socket.close();
      process.disconnect();
    }
  });
}

/** Child: counts datagrams on a batched native socket (the extra, non-target raw row). */
async function nativeRawReceiver(): Promise<void> {
  const socket = await createNodeUdpNetwork({ impl: 'native' }).bind({ host: '127.0.0.1' });
  let bytes = 0;
  let first = 0;
  let last = 0;
  let cpu0 = process.cpuUsage();
  socket.onMessage((msg) => {
    const now = performance.now();
    if (bytes === 0) {
      first = now;
      cpu0 = process.cpuUsage();
    }
    last = now;
    bytes += msg.length;
  });
  process.send?.({ port: socket.localAddress().port });
  process.on('message', async (m: { report?: boolean }) => {
    if (m.report) {
      process.send?.({ bytes, seconds: (last - first) / 1000, cpuSeconds: cpuSecondsSince(cpu0) });
      await socket.close();
      process.disconnect();
    }
  });
}

/** Child: a PZ server endpoint counting block bytes, on the socket kind the parent names. */
async function pzReceiver(impl: UdpImpl): Promise<void> {
  const random = createNodeRandom();
  const endpoint = createEndpoint(
    { staticPrivateKey: createSeededRandom(1).bytes(32) },
    {
      socket: await createNodeUdpNetwork({ impl }).bind({ host: '127.0.0.1' }),
      clock: createNodeClock(),
      random,
      logger: createSilentLogger(),
    },
  );
  let bytes = 0;
  let first = 0;
  let last = 0;
  let cpu0 = process.cpuUsage();
  endpoint.onConnection((c) =>
    c.onBlock((b) => {
      const now = performance.now();
      if (bytes === 0) {
        first = now;
        cpu0 = process.cpuUsage();
      }
      last = now;
      bytes += b.data.length;
    }),
  );
  process.send?.({ port: endpoint.localAddress().port, key: Array.from(endpoint.publicKey) });
  process.on('message', async (m: { report?: boolean }) => {
    if (m.report) {
      process.send?.({ bytes, seconds: (last - first) / 1000, cpuSeconds: cpuSecondsSince(cpu0) });
      await endpoint.close();
      process.disconnect();
    }
  });
}

/** Socket implementation for PZ runs: the native batched addon when built (auto), or node:dgram. */
type UdpImpl = 'auto' | 'dgram';

function child(
  kind: string,
  impl: UdpImpl = 'auto',
): Promise<{ proc: ReturnType<typeof fork>; hello: { port: number; key?: number[] } }> {
  const profile = process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
  const proc = fork(import.meta.filename, [kind, impl], { execArgv: [...profile, '--import', 'tsx'] });
  return new Promise((resolve) =>
    proc.once('message', (hello) => resolve({ proc, hello: hello as { port: number } })),
  );
}

/** CPU seconds (user + system) this process used since `start`: less load-sensitive than wall time. */
function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

interface ReceiverReport {
  bytes: number;
  seconds: number;
  cpuSeconds: number;
}

function report(proc: ReturnType<typeof fork>): Promise<ReceiverReport> {
  return new Promise((resolve) => {
    proc.once('message', (m) => resolve(m as ReceiverReport));
    proc.send({ report: true });
  });
}

/** Receiver CPU cost per megabyte delivered, in CPU milliseconds. */
function cpuMsPerMB(result: ReceiverReport): number {
  return (result.cpuSeconds * 1000) / (result.bytes / 1e6);
}

async function rawBlast(seconds: number): Promise<{ bps: number; cpuMsPerMB: number }> {
  const { proc, hello } = await child('raw-receiver');
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  socket.setSendBufferSize(8 * 1024 * 1024);
  const payload = Buffer.alloc(1200, 7);
  const end = performance.now() + seconds * 1000;
  let inFlight = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      if (performance.now() >= end) {
        resolve();
        return;
      }
      // Keep a bounded number of sends queued in libuv; the kernel drops what the receiver cannot take.
      while (inFlight < 256) {
        inFlight++;
        socket.send(payload, hello.port, '127.0.0.1', () => {
          inFlight--;
        });
      }
      setImmediate(pump);
    };
    pump();
  });
  await new Promise((r) => setTimeout(r, 200));
  const result = await report(proc);
  socket.close();
  return { bps: (result.bytes * 8) / result.seconds, cpuMsPerMB: cpuMsPerMB(result) };
}

/** The extra row: a raw blast with batched native sockets at both ends (same 1200-byte datagrams). */
async function nativeRawBlast(seconds: number): Promise<{ bps: number; cpuMsPerMB: number }> {
  const { proc, hello } = await child('native-raw-receiver');
  const socket = await createNodeUdpNetwork({ impl: 'native' }).bind({ host: '127.0.0.1' });
  const payload = new Uint8Array(1200).fill(7);
  const to = { host: '127.0.0.1', port: hello.port };
  const end = performance.now() + seconds * 1000;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      if (performance.now() >= end) {
        resolve();
        return;
      }
      // 256 per turn, as the dgram blast keeps 256 in flight; they leave in one sendmmsg.
      for (let i = 0; i < 256; i++) socket.send(to, payload);
      setImmediate(pump);
    };
    pump();
  });
  await new Promise((r) => setTimeout(r, 200));
  const result = await report(proc);
  await socket.close();
  return { bps: (result.bytes * 8) / result.seconds, cpuMsPerMB: cpuMsPerMB(result) };
}

async function pzGoodput(
  seconds: number,
  impl: UdpImpl = 'auto',
): Promise<{ bps: number; rttMs: number; cpuMsPerMB: number; senderCpuMsPerMB: number }> {
  const { proc, hello } = await child('pz-receiver', impl);
  const endpoint = createEndpoint(
    { staticPrivateKey: createSeededRandom(2).bytes(32) },
    {
      socket: await createNodeUdpNetwork({ impl }).bind({ host: '127.0.0.1' }),
      clock: createNodeClock(),
      random: createNodeRandom(),
      logger: createSilentLogger(),
    },
  );
  const conn = await endpoint.connect({ host: '127.0.0.1', port: hello.port }, new Uint8Array(hello.key!));
  const block = new Uint8Array(256 * 1024).fill(3);
  const senderCpu0 = process.cpuUsage();
  let offset = 0;
  let running = true;
  const push = (): void => {
    while (running && conn.sendBlock({ object: 1, offset, data: block })) offset += block.length;
  };
  conn.onDrain(push);
  push();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const senderCpuSeconds = cpuSecondsSince(senderCpu0);
  const rttMs = conn.stats().rttMs;
  if (process.env.TRACE) console.log('pz loopback stats', conn.stats());
  const result = await report(proc);
  await endpoint.close();
  return {
    bps: (result.bytes * 8) / result.seconds,
    rttMs,
    cpuMsPerMB: cpuMsPerMB(result),
    senderCpuMsPerMB: (senderCpuSeconds * 1000) / (result.bytes / 1e6),
  };
}

// ------------------------------------------------------------------ 2-4. simulated network

const SIM_LINK: LinkSpec = { delayMs: 150, rateBps: 20e6, loss: 0.02, queueBytes: 750 * 1024 };

async function simPair(
  congestion: 'bbr' | 'newreno',
  seed: number,
  history?: RateHistory,
  link: LinkSpec = SIM_LINK,
): Promise<{
  net: ReturnType<typeof createVirtualNet>;
  server: Endpoint;
  client: Endpoint;
  clientHost: ReturnType<ReturnType<typeof createVirtualNet>['host']>;
}> {
  const net = createVirtualNet(seed);
  const random = createSeededRandom(seed + 1);
  const logger = createSilentLogger();
  const serverHost = net.host('10.0.0.1', { ...link });
  const clientHost = net.host('10.0.0.2', { ...link, rateBps: undefined });
  const context = history ? { rateHistory: history, networkContext: 'isp=sim;type=lossy-20M' } : {};
  const server = createEndpoint(
    {
      staticPrivateKey: random.bytes(32),
      congestion,
      blockWindow: 16 * 1024 * 1024,
      onInit: () => new Uint8Array([1]),
      ...context,
    },
    { socket: await serverHost.udp.bind({ port: 4433 }), clock: net.clock, random, logger },
  );
  const client = createEndpoint(
    { staticPrivateKey: random.bytes(32), congestion },
    { socket: await clientHost.udp.bind(), clock: net.clock, random, logger },
  );
  return { net, server, client, clientHost };
}

/** Download of `size` bytes as blocks, server -> client. Goodput from first block sent to last received. */
async function simDownload(
  congestion: 'bbr' | 'newreno',
  size: number,
  seed: number,
  history?: RateHistory,
): Promise<{ mbps: number; receiverMbps: number; seconds: number; lost: number }> {
  const { net, server, client } = await simPair(congestion, seed, history);
  const data = new Uint8Array(size);
  let start = 0;
  let lost = 0;
  server.onConnection((c) => {
    start = net.clock.now();
    let offset = 0;
    const push = (): void => {
      while (
        offset < size &&
        c.sendBlock({ object: 1, offset, data: data.subarray(offset, offset + 64 * 1024) })
      )
        offset += 64 * 1024;
    };
    c.onDrain(push);
    push();
    c.onClose(() => {});
    const timer = (): void => {
      lost = c.stats().packetsLost;
    };
    c.onDrain(timer);
  });
  const conn = await net.run(client.connect({ host: '10.0.0.1', port: 4433 }, server.publicKey));
  let got = 0;
  let firstByteAt = 0;
  const done = new Promise<void>((resolve) => {
    conn.onBlock((b) => {
      if (got === 0) firstByteAt = net.clock.now();
      got += b.data.length;
      if (got >= size) resolve();
    });
  });
  if (process.env.TRACE) {
    const core = (conn as unknown as { core: unknown }).core;
    void core;
    let last = 0;
    const tick = (): void => {
      console.log(
        't',
        ((net.clock.now() - start) / 1000).toFixed(2),
        'got',
        got,
        'Mbps',
        (((got - last) * 8) / (Number(process.env.TRACE) / 1000) / 1e6).toFixed(1),
      );
      last = got;
      if (got < size) net.clock.setTimer(Number(process.env.TRACE), tick);
    };
    net.clock.setTimer(0, tick);
  }
  await net.run(done, 24 * 3600 * 1000);
  const seconds = (net.clock.now() - start) / 1000;
  const receiverSeconds = (net.clock.now() - firstByteAt) / 1000;
  conn.close();
  await net.runFor(2000);
  await server.close();
  await client.close();
  return {
    mbps: (size * 8) / seconds / 1e6,
    receiverMbps: (size * 8) / receiverSeconds / 1e6,
    seconds,
    lost,
  };
}

async function ttfbRtts(): Promise<{ rtts: number; ms: number }> {
  const { net, server, client } = await simPair('bbr', 41, undefined, { delayMs: 150, rateBps: 20e6 });
  const start = net.clock.now();
  const conn = await net.run(
    client.connect({ host: '10.0.0.1', port: 4433 }, server.publicKey, { initPayload: new Uint8Array([1]) }),
  );
  const ms = net.clock.now() - start;
  if (!conn.initReply) throw new Error('no init reply');
  return { rtts: ms / 300, ms };
}

async function migrationStall(): Promise<{ stallMs: number; ptoMs: number; rttMs: number }> {
  const link: LinkSpec = { delayMs: 50, rateBps: 20e6, queueBytes: 256 * 1024 };
  const { net, server, client, clientHost } = await simPair('bbr', 51, undefined, link);
  const size = 16 * 1024 * 1024;
  const data = new Uint8Array(size);
  server.onConnection((c) => {
    let offset = 0;
    const push = (): void => {
      while (
        offset < size &&
        c.sendBlock({ object: 1, offset, data: data.subarray(offset, offset + 64 * 1024) })
      )
        offset += 64 * 1024;
    };
    c.onDrain(push);
    push();
  });
  const conn = await net.run(client.connect({ host: '10.0.0.1', port: 4433 }, server.publicKey));
  let got = 0;
  let changedAt = 0;
  let lastBefore = 0;
  let firstAfter = 0;
  let ptoMs = 0;
  let rttMs = 0;
  const done = new Promise<void>((resolve) => {
    conn.onBlock((b) => {
      const now = net.clock.now();
      got += b.data.length;
      if (changedAt === 0 && got > size / 4) {
        changedAt = now;
        lastBefore = now;
        const core = (conn as unknown as { core: { rtt: { pto(): number; smoothed: number } } }).core;
        ptoMs = core.rtt.pto();
        rttMs = core.rtt.smoothed;
        clientHost.changeIp('10.0.7.7');
      } else if (changedAt !== 0 && firstAfter === 0 && now > changedAt) {
        firstAfter = now;
      }
      if (got >= size) resolve();
    });
  });
  await net.run(done, 600_000);
  return { stallMs: firstAfter - lastBefore, ptoMs, rttMs };
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const figures: Figure[] = [];
  const targets: Target[] = [];
  const notes: string[] = [];

  // PARTS=1,2,3,4 (default all) runs a subset while iterating.
  const parts = new Set((process.env.PARTS ?? '1,2,3,4').split(','));
  // Raw and PZ alternate (three pairs) and each figure is the median, so a load change on this shared
  // machine during one phase does not decide the ratio; the target is the median of the pair ratios.
  const rawRuns: Array<{ bps: number; cpuMsPerMB: number }> = [];
  const pzRuns: Array<{ bps: number; rttMs: number; cpuMsPerMB: number; senderCpuMsPerMB: number }> = [];
  const pairs = parts.has('1') ? Number(process.env.LOOPBACK_PAIRS ?? 3) : 0;
  // Other work on the machine decides the loopback figures (both processes need CPU): record it.
  const loadBefore = loadavg()[0]!;
  const udpKind = createNodeUdpNetwork({ logger: createSilentLogger() }).kind;
  const nativeRuns: Array<{ bps: number; cpuMsPerMB: number }> = [];
  for (let i = 0; i < pairs; i++) {
    rawRuns.push(await rawBlast(2));
    pzRuns.push(await pzGoodput(3));
    if (udpKind === 'native-batch') nativeRuns.push(await nativeRawBlast(2));
  }
  // PZ on node:dgram sockets once, so the addon's share of the result is visible in the same run.
  const pzDgram = pairs > 0 && udpKind === 'native-batch' ? await pzGoodput(3, 'dgram') : undefined;
  const median = (values: number[]): number => {
    if (values.length === 0) return Number.NaN;
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const raw = {
    bps: median(rawRuns.map((r) => r.bps)),
    cpuMsPerMB: median(rawRuns.map((r) => r.cpuMsPerMB)),
  };
  const rawBps = raw.bps;
  const pz = {
    bps: median(pzRuns.map((r) => r.bps)),
    rttMs: median(pzRuns.map((r) => r.rttMs)),
    cpuMsPerMB: median(pzRuns.map((r) => r.cpuMsPerMB)),
    senderCpuMsPerMB: median(pzRuns.map((r) => r.senderCpuMsPerMB)),
  };
  const pairRatios = pzRuns.map((r, i) => r.bps / rawRuns[i]!.bps);
  const loopRatio = median(pairRatios);
  if (pairs > 0)
    notes.push(
      `Loopback pairs (raw Mbit/s, PZ Mbit/s, ratio): ${pzRuns
        .map(
          (r, i) =>
            `${(rawRuns[i]!.bps / 1e6).toFixed(0)}/${(r.bps / 1e6).toFixed(0)}/${pairRatios[i]!.toFixed(2)}`,
        )
        .join(', ')}; figures are medians, the target is the median pair ratio.`,
      `Loopback load: 1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the pairs, on ${cpus().length} cores (a quiet machine is ~0-1).`,
    );
  figures.push(
    {
      name: 'loopback PZ goodput (1 session, blocks, 2 processes, median of 3)',
      value: pz.bps / 1e6,
      unit: 'Mbit/s',
    },
    { name: 'loopback raw dgram receiver CPU per MB', value: raw.cpuMsPerMB, unit: 'CPU ms/MB' },
    {
      name: 'loopback PZ receiver CPU per MB (decrypt, ACK, deliver)',
      value: pz.cpuMsPerMB,
      unit: 'CPU ms/MB',
    },
    {
      name: 'loopback PZ sender CPU per MB (encrypt, pace, recover)',
      value: pz.senderCpuMsPerMB,
      unit: 'CPU ms/MB',
    },
    {
      name: 'loopback PZ receiver CPU vs raw receiver CPU',
      value: pz.cpuMsPerMB / raw.cpuMsPerMB,
      unit: 'ratio',
    },
  );
  if (pairs > 0) {
    // Load-insensitive companion to the target: each side of both runs is CPU-bound on one core on a
    // quiet machine, so CPU per MB bounds the rate. Not the target (that is measured goodput).
    figures.push({
      name: 'extra: CPU-bound capacity ratio = raw receiver CPU/MB / max(PZ sender, PZ receiver CPU/MB)',
      value: raw.cpuMsPerMB / Math.max(pz.cpuMsPerMB, pz.senderCpuMsPerMB),
      unit: 'ratio',
    });
    notes.push(
      `Loopback PZ sockets: ${udpKind === 'native-batch' ? 'native-batch (native/ addon: recvmmsg + UDP_GRO, sendmmsg + UDP_SEGMENT), 1200-byte PZ packets' : 'node:dgram (the native addon is not built)'}; packet AEAD: ${aeadBackend() === 'native' ? 'native/aead (OpenSSL assembly ChaCha20-Poly1305)' : 'sodium-native'}. The raw baseline that carries the target is always node:dgram at both ends with 1200-byte datagrams, as the issue names it.`,
    );
  }
  if (nativeRuns.length > 0) {
    const nativeRaw = {
      bps: median(nativeRuns.map((r) => r.bps)),
      cpuMsPerMB: median(nativeRuns.map((r) => r.cpuMsPerMB)),
    };
    figures.push(
      {
        name: 'extra: raw blast on native batched sockets (1200-byte datagrams; not the target baseline)',
        value: nativeRaw.bps / 1e6,
        unit: 'Mbit/s',
      },
      { name: 'extra: native raw receiver CPU per MB', value: nativeRaw.cpuMsPerMB, unit: 'CPU ms/MB' },
      {
        name: 'extra: loopback PZ goodput vs native raw blast',
        value: pz.bps / nativeRaw.bps,
        unit: 'ratio',
      },
    );
  }
  if (pzDgram !== undefined) {
    figures.push(
      {
        name: 'extra: loopback PZ goodput on node:dgram sockets (1 run)',
        value: pzDgram.bps / 1e6,
        unit: 'Mbit/s',
      },
      { name: 'extra: PZ on node:dgram, receiver CPU per MB', value: pzDgram.cpuMsPerMB, unit: 'CPU ms/MB' },
      {
        name: 'extra: PZ on node:dgram, sender CPU per MB',
        value: pzDgram.senderCpuMsPerMB,
        unit: 'CPU ms/MB',
      },
      {
        name: 'extra: PZ on node:dgram vs raw dgram (median raw)',
        value: pzDgram.bps / rawBps,
        unit: 'ratio',
      },
    );
  }
  targets.push({
    name: 'loopback goodput vs raw dgram',
    target: '>= 0.6 x raw',
    actual: loopRatio,
    unit: 'ratio',
    met: loopRatio >= 0.6,
  });

  const line = 20 * 0.98;
  const history = createRateHistory();
  const skip = { mbps: Number.NaN, receiverMbps: Number.NaN, seconds: 0, lost: 0 };
  const sim = parts.has('2');
  // Warm the history for the network context with one session (smart start), then measure.
  if (sim) await simDownload('bbr', 4 * 1024 * 1024, 61, history);
  const bbr4 = sim ? await simDownload('bbr', 4 * 1024 * 1024, 62, history) : skip;
  // The same warm 4 MB download on other loss patterns: the target is quoted for seed 62, this shows
  // it is not a lucky draw.
  const bbr4others = sim
    ? [
        await simDownload('bbr', 4 * 1024 * 1024, 64, history),
        await simDownload('bbr', 4 * 1024 * 1024, 65, history),
        await simDownload('bbr', 4 * 1024 * 1024, 66, history),
      ]
    : [];
  const bbr4worst = Math.min(bbr4.mbps, ...bbr4others.map((r) => r.mbps));
  const bbr4cold = sim ? await simDownload('bbr', 4 * 1024 * 1024, 62) : skip;
  const reno4 = sim ? await simDownload('newreno', 4 * 1024 * 1024, 62) : skip;
  const bbr64 = sim ? await simDownload('bbr', 64 * 1024 * 1024, 63) : skip;
  const reno64 =
    sim && process.env.SKIP_RENO64 === undefined ? await simDownload('newreno', 64 * 1024 * 1024, 63) : skip;
  figures.push(
    { name: 'sim 4 MB BBR (smart start), from first byte sent', value: bbr4.mbps, unit: 'Mbit/s' },
    {
      name: 'sim 4 MB BBR (smart start), first to last byte received',
      value: bbr4.receiverMbps,
      unit: 'Mbit/s',
    },
    {
      name: 'sim 4 MB BBR (smart start), from first byte sent, worst of seeds 62/64/65/66',
      value: bbr4worst,
      unit: 'Mbit/s',
    },
    { name: 'sim 64 MB BBR (cold), first to last byte received', value: bbr64.receiverMbps, unit: 'Mbit/s' },
    { name: 'sim 4 MB BBR (cold start)', value: bbr4cold.mbps, unit: 'Mbit/s' },
    { name: 'sim 64 MB BBR (cold start)', value: bbr64.mbps, unit: 'Mbit/s' },
  );
  for (const [name, ours, ref] of [
    ['4 MB', bbr4, reno4],
    ['64 MB', bbr64, reno64],
  ] as const) {
    // Strict: from the first byte the server sends (includes the 150 ms one-way delay and the tail).
    targets.push({
      name: `sim ${name}: goodput (from first byte sent) vs 20 x 0.98 Mbit/s`,
      target: '>= 0.85',
      actual: ours.mbps / line,
      unit: 'ratio',
      met: ours.mbps / line >= 0.85,
    });
    // Receiver view: first to last byte received (time to first byte is item 3).
    targets.push({
      name: `sim ${name}: goodput (first to last byte received) vs 20 x 0.98 Mbit/s`,
      target: '>= 0.85',
      actual: ours.receiverMbps / line,
      unit: 'ratio',
      met: ours.receiverMbps / line >= 0.85,
    });
    targets.push({
      name: `sim ${name}: goodput vs NewReno`,
      target: '>= 3 x',
      actual: ours.mbps / ref.mbps,
      unit: 'ratio',
      met: ours.mbps / ref.mbps >= 3,
    });
  }

  const ttfb = parts.has('3') ? await ttfbRtts() : { rtts: Number.NaN, ms: Number.NaN };
  figures.push({ name: 'time to init reply (300 ms RTT link)', value: ttfb.ms, unit: 'ms' });
  targets.push({
    name: 'time to first response byte',
    target: '<= 1 RTT (+ serialisation); TCP+TLS 1.3 = 2',
    actual: ttfb.rtts,
    unit: 'RTT',
    met: ttfb.rtts <= 1.02,
  });

  const migration = parts.has('4')
    ? await migrationStall()
    : { stallMs: Number.NaN, ptoMs: Number.NaN, rttMs: 0 };
  figures.push(
    { name: 'migration: delivery stall after address change', value: migration.stallMs, unit: 'ms' },
    { name: 'migration: PTO at the change', value: migration.ptoMs, unit: 'ms' },
    { name: 'migration: smoothed RTT at the change', value: migration.rttMs, unit: 'ms' },
  );
  targets.push({
    name: 'migration stall vs PTO',
    target: '<= 1 PTO',
    actual: migration.stallMs / migration.ptoMs,
    unit: 'PTO',
    met: migration.stallMs <= migration.ptoMs,
  });

  notes.push(
    'Loopback figures depend on machine load (2 cores shared); both numbers come from the same run.',
    'Simulated runs use the in-process virtual network from test/transport/util (virtual time, seeded).',
    'TCP + TLS 1.3 baseline for time-to-first-byte is the protocol minimum of 2 RTTs (SYN/SYN-ACK, then TLS 1-RTT + request).',
    'Item 2 goodput: the target line is the strict definition, object bytes / (last byte received - first byte sent by the server), so it includes the one-way delay and the tail; session set-up is item 3. The "first to last byte received" line is the receiver view, reported for comparison only.',
    'Item 2 tail: losses in the last flight are rebuilt from erasure-coded repair symbols (transport/PROTOCOL.md, "Tail repair") instead of costing a round trip.',
  );
  writeBenchReport({
    name: 'transport',
    baseline: {
      raw: {
        name: 'raw node:dgram blast, receiver in a second process (median of 3)',
        value: rawBps / 1e6,
        unit: 'Mbit/s',
      },
      newreno4: { name: 'sim 4 MB NewReno', value: reno4.mbps, unit: 'Mbit/s' },
      newreno64: { name: 'sim 64 MB NewReno', value: reno64.mbps, unit: 'Mbit/s' },
      tcpTls: { name: 'TCP + TLS 1.3 time to first byte', value: 2, unit: 'RTT' },
    },
    figures,
    targets,
    notes,
  });
}

// Dispatch last: the constants above must be initialised before any part runs.
const mode = process.argv[2];
if (mode === 'raw-receiver') await rawReceiver();
else if (mode === 'native-raw-receiver') await nativeRawReceiver();
else if (mode === 'pz-receiver') await pzReceiver(process.argv[3] === 'dgram' ? 'dgram' : 'auto');
else await main();
