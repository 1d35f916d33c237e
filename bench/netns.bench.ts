/**
 * PZ transport vs HTTPS over kernel TCP on emulated real-kernel paths (npm run bench:netns; root).
 *
 * Two namespaces joined by an emulated wire (lab/realnet/link.ts: tbf rate, nft loss, TAP delay line).
 * The server namespace runs a minimal PZ server (transport/index.ts, lab/realnet/agents/pz.ts) and a
 * Node https server with a self-signed certificate made by `openssl req` at run time; the client
 * namespace fetches a 4 MB and a 64 MB object with each (curl for HTTPS), and a 512-byte object on a
 * fresh connection for time to first byte. Both sides see the same path in the same run.
 *
 * TCP CUBIC at 300 ms / 2 % loss is slow enough (Mathis: ~0.3 Mbit/s) that 64 MB would take about
 * half an hour, so each HTTPS fetch is capped (NETNS_BENCH_TCP_CAP_S, default 300 s); a capped fetch
 * gives a lower bound on the ratio (TCP needed at least the cap) and an estimate extrapolated from
 * its rate over the cap (CUBIC at a fixed random loss rate runs at a steady Mathis rate).
 * NETNS_BENCH_CC=newreno|bbr picks the PZ congestion controller (default bbr).
 *
 * The PZ server sends with a 16 MiB block window, as bench:transport's simulated path does: the
 * transport's 4 MiB default is less than the data a cold BBR STARTUP has outstanding on this path
 * (2.9 x BDP in flight plus its tail losses awaiting retransmission), so the sender turns
 * application-limited, its samples stop counting toward STARTUP's full-pipe test, and it overfills
 * the bottleneck for seconds. The default window is measured too (second PZ server), and reported.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bundleScript,
  createNetnsLab,
  hasBinary,
  type Namespace,
  type NetnsLab,
  netnsSupport,
} from '../lab/netns/index.ts';
import { emulatedWire, type LinkProfile, prioritized } from '../lab/realnet/index.ts';
import { keyPairFromSeed } from '../transport/index.ts';
import { type Figure, type Target, writeBenchReport } from './lib/report.ts';

const MB = 1_000_000;
const CAP_S = Number(process.env.NETNS_BENCH_TCP_CAP_S ?? 300);
const CC = process.env.NETNS_BENCH_CC === 'newreno' ? 'newreno' : 'bbr';
const SERVER = '10.77.0.1';
const PZ_PORT = 9000;
/** Same server with the transport's default block window. */
const PZ_DEFAULT_WINDOW_PORT = 9001;
const BLOCK_WINDOW = 16 * 1024 * 1024;
const HTTPS_PORT = 8443;
const SEED = '5a'.repeat(32);
/**
 * Both endpoints of both protocols run at the lab's real-time priority (lab/realnet/priority.ts). TCP's
 * congestion control, pacing and retransmission run in the kernel (softirq), ahead of every user
 * process; PZ's run in a Node process. On a machine busy with other work that would measure the
 * scheduler, not the protocols.
 */

interface PathCase {
  key: string;
  profile: LinkProfile;
}
const CASES: PathCase[] = [
  { key: '20M-300ms-2%', profile: { rateBps: 20e6, rttMs: 300, loss: 0.02 } },
  { key: '50M-50ms-0.5%', profile: { rateBps: 50e6, rttMs: 50, loss: 0.005 } },
];
const SIZES = [4 * MB, 64 * MB];
/**
 * Kernel TCP congestion controllers compared: cubic (Linux's default and what most servers run) and
 * bbr (this machine's default). Set per namespace on the sender side.
 */
const TCP_CCS = (process.env.NETNS_BENCH_TCP_CC ?? 'cubic,bbr').split(',');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

interface PzFetch {
  ms: number;
  bytes: number;
  ok: boolean;
}
interface CurlFetch {
  ms: number;
  firstByteMs: number;
  bytes: number;
  capped: boolean;
}

async function curl(client: Namespace, path: string, capS: number): Promise<CurlFetch> {
  // Through sh so a --max-time abort (exit 28) still returns curl's timing line.
  const out = await client.exec('sh', [
    '-c',
    `${prioritized('curl', []).flat().join(' ')} -sk -o /dev/null --max-time ${capS} -w '%{time_starttransfer} %{time_total} %{size_download} %{http_code}' https://${SERVER}:${HTTPS_PORT}${path}; true`,
  ]);
  const [ttfb, total, size] = out.trim().split(' ').map(Number);
  const ms = (total ?? 0) * 1000;
  return { ms, firstByteMs: (ttfb ?? 0) * 1000, bytes: size ?? 0, capped: ms >= capS * 1000 - 50 };
}

let current: NetnsLab | undefined;
let interrupted = false;
let restoreHost: () => void = () => {};
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    // Interrupted: remove this run's namespaces and processes before leaving. The measurement in
    // progress fails when its processes go; main() then waits for this exit instead of throwing.
    interrupted = true;
    void (current?.teardown() ?? Promise.resolve()).finally(() => {
      restoreHost();
      process.exit(130);
    });
  });

async function measure(c: PathCase, pzScript: string, httpsScript: string, certDir: string) {
  const lab = await createNetnsLab();
  current = lab;
  try {
    const server = await lab.namespace('srv');
    const client = await lab.namespace('cli');
    await emulatedWire(lab, 'x', server, 'eth0', client, 'eth0', c.profile);
    await server.addAddress('eth0', `${SERVER}/24`);
    await client.addAddress('eth0', '10.77.0.2/24');
    const pub = Buffer.from(keyPairFromSeed(Buffer.from(SEED, 'hex')).publicKey).toString('hex');
    const pz = server.spawn(...prioritized('node', [pzScript, 'serve', String(PZ_PORT), SEED, CC]), {
      env: { ...process.env, PZ_BLOCK_WINDOW: String(BLOCK_WINDOW) },
    });
    const pzDefault = server.spawn(
      ...prioritized('node', [pzScript, 'serve', String(PZ_DEFAULT_WINDOW_PORT), SEED, CC]),
      {
        env: { ...process.env, PZ_BLOCK_WINDOW: '' },
      },
    );
    const https = server.spawn(
      ...prioritized('node', [
        httpsScript,
        'serve',
        String(HTTPS_PORT),
        join(certDir, 'key.pem'),
        join(certDir, 'cert.pem'),
      ]),
    );
    const ready = (l: string) => (l === 'listening' ? true : undefined);
    // Waiters see only lines printed after they attach, so attach both before either can print.
    await Promise.all([pz, pzDefault, https].map((p) => p.waitForLine(ready, 15_000)));
    const pzRun = async (...args: string[]) =>
      JSON.parse(await client.exec(...prioritized('node', [pzScript, ...args.map(String), CC])));

    // Warm-up: ARP and the servers' first-request costs are not what we measure.
    await pzRun('small', SERVER, String(PZ_PORT), pub);
    await curl(client, '/small', 30);

    const pzInit: number[] = [];
    const pzStream: number[] = [];
    const tcpFirst: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = (await pzRun('small', SERVER, String(PZ_PORT), pub)) as {
        initReplyMs: number;
        streamFirstByteMs: number;
        initOk: boolean;
      };
      if (!r.initOk) throw new Error('PZ small object answered wrongly');
      pzInit.push(r.initReplyMs);
      pzStream.push(r.streamFirstByteMs);
      tcpFirst.push((await curl(client, '/small', 30)).firstByteMs);
    }
    const bulk: { size: number; pz: PzFetch; pzDefault?: PzFetch; tcp: Record<string, CurlFetch> }[] = [];
    for (const size of SIZES) {
      console.error(`[${c.key}] ${size / MB} MB over PZ (${CC}) ...`);
      const pzFetch = (await pzRun('fetch', SERVER, String(PZ_PORT), pub, String(size))) as PzFetch;
      if (!pzFetch.ok) throw new Error(`PZ fetch of ${size} bytes was not byte-exact`);
      console.error(`[${c.key}] ${size / MB} MB: PZ ${(pzFetch.ms / 1000).toFixed(1)} s`);
      let pzDefault: PzFetch | undefined;
      if (size === 64 * MB) {
        pzDefault = (await pzRun(
          'fetch',
          SERVER,
          String(PZ_DEFAULT_WINDOW_PORT),
          pub,
          String(size),
        )) as PzFetch;
        if (!pzDefault.ok) throw new Error(`PZ fetch of ${size} bytes was not byte-exact`);
        console.error(
          `[${c.key}] ${size / MB} MB: PZ, default block window ${(pzDefault.ms / 1000).toFixed(1)} s`,
        );
      }
      const tcp: Record<string, CurlFetch> = {};
      for (const cc of TCP_CCS) {
        await server.sysctl('net.ipv4.tcp_congestion_control', cc);
        console.error(`[${c.key}] ${size / MB} MB over HTTPS/TCP ${cc} (cap ${CAP_S} s) ...`);
        const r = await curl(client, `/obj/${size}`, CAP_S);
        console.error(
          `[${c.key}] ${size / MB} MB: TCP ${cc} ${(r.ms / 1000).toFixed(1)} s${r.capped ? ` (capped at ${r.bytes} bytes)` : ''}`,
        );
        tcp[cc] = r;
      }
      bulk.push({ size, pz: pzFetch, ...(pzDefault ? { pzDefault } : {}), tcp });
    }
    return {
      pzInitMs: median(pzInit),
      pzStreamMs: median(pzStream),
      tcpFirstMs: median(tcpFirst),
      bulk,
    };
  } finally {
    await lab.teardown();
  }
}

async function main(): Promise<void> {
  const support = netnsSupport();
  if (!support.ok) throw new Error(`bench:netns needs root and iproute2: ${support.reason}`);
  for (const bin of ['nft', 'tc', 'gcc', 'curl', 'openssl'])
    if (!hasBinary(bin)) throw new Error(`bench:netns needs ${bin}`);
  const certDir = mkdtempSync(join(tmpdir(), 'sl-netns-bench-'));
  // A namespace may only pick a default TCP congestion controller from the host's allowed list;
  // add the compared ones for the run and put the list back afterwards.
  const ALLOWED = '/proc/sys/net/ipv4/tcp_allowed_congestion_control';
  const allowedBefore = readFileSync(ALLOWED, 'utf8').trim();
  const allowed = new Set(allowedBefore.split(/\s+/));
  restoreHost = () => {
    if (readFileSync(ALLOWED, 'utf8').trim() !== allowedBefore) writeFileSync(ALLOWED, allowedBefore);
  };
  if (TCP_CCS.some((cc) => !allowed.has(cc))) writeFileSync(ALLOWED, [...allowed, ...TCP_CCS].join(' '));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'), '-days', '1',
      '-subj', '/CN=swarmlane-lab', '-addext', `subjectAltName=IP:${SERVER}`,
    ], { stdio: 'ignore' }); // biome-ignore format: one argument list
    const pzScript = await bundleScript('lab/realnet/agents/pz.ts');
    const httpsScript = await bundleScript('lab/realnet/agents/https.ts');
    const baseline: Record<string, Figure> = {};
    const figures: Figure[] = [];
    const targets: Target[] = [];
    const notes: string[] = [
      `PZ congestion controller: ${CC}; TCP: ${TCP_CCS.join(' and ')} set on the server namespace (host default here: ${execFileSync('sysctl', ['-n', 'net.ipv4.tcp_congestion_control'], { encoding: 'utf8' }).trim()}); curl over TLS, HTTP/1.1, fresh connection per fetch`,
      'first byte = from session start (PZ connect() call / curl start) to the first byte of the answer, 512-byte object, fresh connection, median of 3: PZ "init" = object in the handshake answer (1 RTT, how edges answer session-init probes); PZ "stream" = handshake then a request on a stream (2 RTT); HTTPS = TCP + TLS 1.3 + request (3 RTT). The target uses "init".',
      'bulk times: PZ from connect() to the last byte (handshake included); HTTPS curl time_total (TCP + TLS included). A capped TCP fetch: ratio vs the cap is a lower bound; "extrapolated" = size / its rate over the cap.',
      'the 3x target is against "HTTPS over kernel TCP": CUBIC (Linux default, loss-based: the Mathis argument) and BBR are both reported and each has its own target line. Against BBR the target cannot be met on this path by any sender: BBR TCP already runs near the link rate, and "best possible speedup" = TCP time / link-rate bound shows the ceiling.',
      `PZ server block window ${BLOCK_WINDOW / 1024 / 1024} MiB (as bench:transport's simulated path); the transport's default 4 MiB is reported as a separate figure.`,
    ];
    for (const c of CASES) {
      const r = await measure(c, pzScript, httpsScript, certDir);
      baseline[`${c.key} https first byte`] = {
        name: 'HTTPS 512 B time to first byte',
        value: r.tcpFirstMs,
        unit: 'ms',
      };
      figures.push({ name: `${c.key} PZ first byte (handshake answer)`, value: r.pzInitMs, unit: 'ms' });
      figures.push({ name: `${c.key} PZ first byte (stream request)`, value: r.pzStreamMs, unit: 'ms' });
      for (const b of r.bulk) {
        const label = `${c.key} ${b.size / MB} MB`;
        figures.push({ name: `${label} PZ time`, value: b.pz.ms / 1000, unit: 's' });
        figures.push({ name: `${label} PZ goodput`, value: (b.size * 8) / b.pz.ms / 1000, unit: 'Mbit/s' });
        figures.push({
          name: `${label} link-rate bound (size / link rate)`,
          value: (b.size * 8) / (c.profile.rateBps ?? 1),
          unit: 's',
        });
        if (b.pzDefault) {
          figures.push({
            name: `${label} PZ time, default 4 MiB block window`,
            value: b.pzDefault.ms / 1000,
            unit: 's',
          });
          figures.push({
            name: `${label} PZ goodput, default 4 MiB block window`,
            value: (b.size * 8) / b.pzDefault.ms / 1000,
            unit: 'Mbit/s',
          });
        }
        for (const [cc, t] of Object.entries(b.tcp)) {
          const tcpRate = t.bytes / (t.ms / 1000);
          baseline[`${label} https ${cc}`] = {
            name: t.capped
              ? `HTTPS/TCP ${cc} time (capped; ${t.bytes} of ${b.size} bytes)`
              : `HTTPS/TCP ${cc} time`,
            value: t.ms / 1000,
            unit: 's',
          };
          figures.push({
            name: `${label} HTTPS/TCP ${cc} goodput`,
            value: (tcpRate * 8) / 1e6,
            unit: 'Mbit/s',
          });
          const ratio = t.ms / b.pz.ms;
          if (!t.capped)
            figures.push({
              name: `${label} best possible speedup vs HTTPS/TCP ${cc} (its time / link-rate bound)`,
              value: t.ms / 1000 / ((b.size * 8) / (c.profile.rateBps ?? 1)),
              unit: 'x',
            });
          figures.push({
            name: `${label} speedup PZ vs HTTPS/TCP ${cc}${t.capped ? ' (lower bound)' : ''}`,
            value: ratio,
            unit: 'x',
          });
          if (t.capped)
            figures.push({
              name: `${label} speedup vs TCP ${cc} (extrapolated from its rate)`,
              value: b.size / tcpRate / (b.pz.ms / 1000),
              unit: 'x',
            });
          if (c.key === '20M-300ms-2%' && b.size === 64 * MB)
            targets.push({
              name: `${label} PZ speedup vs HTTPS/TCP ${cc}${t.capped ? ' (lower bound)' : ''}`,
              target: '>= 3 x',
              actual: ratio,
              unit: 'x',
              met: ratio >= 3,
            });
        }
      }
      if (c.key === '20M-300ms-2%') {
        targets.push({
          name: `${c.key} PZ first byte / HTTPS first byte (handshake answer)`,
          target: '<= ~0.5 (about half)',
          actual: r.pzInitMs / r.tcpFirstMs,
          unit: 'ratio',
          met: r.pzInitMs / r.tcpFirstMs <= 0.55,
        });
        figures.push({
          name: `${c.key} PZ first byte / HTTPS first byte (stream request)`,
          value: r.pzStreamMs / r.tcpFirstMs,
          unit: 'ratio',
        });
      }
    }
    writeBenchReport({ name: 'netns', baseline, figures, targets, notes });
  } finally {
    rmSync(certDir, { recursive: true, force: true });
    restoreHost();
  }
}

await main().catch(async (error: unknown) => {
  if (interrupted) await new Promise(() => {}); // the signal handler exits once teardown is done
  throw error;
});
