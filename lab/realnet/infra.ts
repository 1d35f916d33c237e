/**
 * The operator's side of a real-kernel lab run, as real `swarmlane` processes in the "internet"
 * namespace: tracker (with its UDP rendezvous/STUN endpoint), CDN (with its billing report), edges,
 * and coturn as a stock STUN server. The CLI is bundled once (lab/netns bundleScript) so each
 * process starts in well under a second on a busy 2-core machine.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair } from '../../release/index.ts';
import { hasBinary, type LabProcess, type Namespace } from '../netns/index.ts';
import type { EdgeSpec } from '../scenario/schema.ts';
import { RealnetError } from './errors.ts';
import { prioritized } from './priority.ts';
import type { RealRelease } from './release.ts';
import { INET_IP } from './topology.ts';

export const TRACKER_PORT = 7000;
export const TRACKER_UDP_PORT = 7001;
export const CDN_PORT = 8080;
export const EDGE_BASE_PORT = 4433;
export const STUN_PORT = 3478;
export const TRACKER_URL = `http://${INET_IP}:${TRACKER_PORT}`;
export const CDN_URL = `http://${INET_IP}:${CDN_PORT}`;

export interface Infra {
  /** `HOST:PORT@PUBKEYFILE` per edge, for agent configs. */
  edgeSpecs: string[];
  /** Samples of the CDN's billed bytes over wall time (seconds since start, cumulative bytes). */
  cdnSamples: Array<{ t: number; totalBytes: number }>;
  /**
   * Stops everything; returns the CDN's final billing report (total and per client address) and the
   * edges' bytes sent.
   */
  stop(): Promise<{ cdnBytes: number; edgeBytes: number; cdnClients: Record<string, number> }>;
}

export interface InfraOptions {
  cli: string;
  dir: string;
  release: RealRelease;
  tracker: boolean;
  /**
   * Let the tracker answer standard announces for torrents its store catalogue does not resolve:
   * in this lab the catalogue refuses aria2c's announce for the published release's info hash
   * ("unregistered torrent"), so stock clients need it.
   */
  allowUnknownTorrents?: boolean;
  edges: EdgeSpec[];
  prefixes: string[] | null;
  cdnCapacityMbps: number;
}

async function waitHttp(ns: Namespace, url: string, proc: LabProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const code = await ns
      .exec('curl', ['-s', '-o', '/dev/null', '-m', '2', '-w', '%{http_code}', url])
      .catch(() => '000');
    if (code.trim() !== '000') return;
    if (proc.child.exitCode !== null)
      throw new RealnetError('PROCESS_FAILED', `${url}: server exited: ${proc.output().slice(-500)}`);
    if (Date.now() > deadline) throw new RealnetError('PROCESS_FAILED', `${url} did not come up`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startInfra(inet: Namespace, options: InfraOptions): Promise<Infra> {
  mkdirSync(options.dir, { recursive: true });
  const node = (args: string[]) => inet.spawn(...prioritized(process.execPath, [options.cli, ...args]));
  const procs: LabProcess[] = [];
  /** Process name per entry of `procs`: their output is kept as <dir>/<name>.log for diagnosis. */
  const names: string[] = [];
  const { release } = options;
  const reportPath = join(options.dir, 'cdn-billing.json');
  const cdn = node([
    'cdn',
    '--listen',
    `${INET_IP}:${CDN_PORT}`,
    '--store',
    release.storeUrl,
    '--rate',
    String(options.cdnCapacityMbps),
    '--report',
    reportPath,
    '--report-interval',
    '1',
  ]);
  procs.push(cdn);
  names.push('cdn');
  let tracker: LabProcess | undefined;
  if (options.tracker) {
    const args = [
      'tracker',
      '--listen',
      `${INET_IP}:${TRACKER_PORT}`,
      '--udp',
      String(TRACKER_UDP_PORT),
      '--store',
      release.storeUrl,
      '--trusted-key',
      release.publicKeyPath,
      '--cdn',
      CDN_URL,
      '--rate-limit',
      '0',
      '--interval',
      '30',
      '--refresh',
      '5',
      '--log-level',
      'warn',
    ];
    if (options.prefixes) {
      const csv = join(options.dir, 'prefixes.csv');
      writeFileSync(csv, `cidr,asn,isp,region\n${options.prefixes.join('\n')}\n`);
      args.push('--prefixes', csv);
    }
    if (options.allowUnknownTorrents) args.push('--allow-unknown-torrents');
    tracker = node(args);
    procs.push(tracker);
    names.push('tracker');
  }
  if (hasBinary('turnserver')) {
    // A stock STUN server next to ours (agents get STUN from the tracker's UDP endpoint).
    procs.push(
      inet.spawn(
        ...prioritized('turnserver', [
          '-n',
          '--stun-only',
          '--no-cli',
          '--no-tls',
          '--no-dtls',
          '--listening-ip',
          INET_IP,
          '--listening-port',
          String(STUN_PORT),
          '--log-file',
          'stdout',
        ]),
      ),
    );
    names.push('turnserver');
  }
  await waitHttp(inet, `${CDN_URL}/`, cdn, 30_000);
  if (tracker) await waitHttp(inet, `${TRACKER_URL}/`, tracker, 30_000);

  const edgeSpecs: string[] = [];
  const edgeMetrics: string[] = [];
  for (const [i, spec] of options.edges.entries()) {
    const keys = generateKeyPair('x25519');
    const keyPath = join(options.dir, `edge-${i}.key`);
    const pubPath = join(options.dir, `edge-${i}.pub`);
    writeFileSync(keyPath, keys.privatePem, { mode: 0o600 });
    writeFileSync(pubPath, keys.publicPem);
    const port = EDGE_BASE_PORT + i;
    const metrics = `${INET_IP}:${9100 + i}`;
    const edge = node([
      'edge',
      '--listen',
      `${INET_IP}:${port}`,
      '--key',
      keyPath,
      '--cache-dir',
      join(options.dir, `edge-${i}-cache`),
      '--store',
      release.storeUrl,
      '--region',
      spec.region,
      '--capacity',
      String(spec.capacityMbps),
      '--trusted-key',
      release.publicKeyPath,
      '--metrics',
      metrics,
      ...(options.tracker ? ['--tracker', TRACKER_URL, '--id', `edge-${i}`] : []),
    ]);
    procs.push(edge);
    names.push(`edge-${i}`);
    await waitHttp(inet, `http://${metrics}/healthz`, edge, 30_000);
    edgeSpecs.push(`${INET_IP}:${port}@${pubPath}`);
    edgeMetrics.push(metrics);
  }

  const cdnSamples: Array<{ t: number; totalBytes: number }> = [];
  const started = Date.now();
  const readReport = (): number => {
    if (!existsSync(reportPath)) return 0;
    try {
      return (JSON.parse(readFileSync(reportPath, 'utf8')) as { totalBytes: number }).totalBytes;
    } catch {
      return cdnSamples.at(-1)?.totalBytes ?? 0; // caught mid-rewrite
    }
  };
  const readClients = (): Record<string, number> => {
    try {
      const report = JSON.parse(readFileSync(reportPath, 'utf8')) as {
        clients?: Record<string, { bytes: number }>;
      };
      return Object.fromEntries(Object.entries(report.clients ?? {}).map(([k, v]) => [k, v.bytes]));
    } catch {
      return {};
    }
  };
  const sampler = setInterval(
    () => cdnSamples.push({ t: (Date.now() - started) / 1000, totalBytes: readReport() }),
    1000,
  );

  return {
    edgeSpecs,
    cdnSamples,
    async stop() {
      clearInterval(sampler);
      let edgeBytes = 0;
      for (const metrics of edgeMetrics) {
        const text = await inet.exec('curl', ['-s', '-m', '5', `http://${metrics}/metrics`]).catch(() => '');
        const match = /^swarmlane_edge_bytes_sent_total(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+\d+)?)/m.exec(text);
        edgeBytes += match ? Number(match[1]) : 0;
      }
      // SIGTERM: the CDN writes its final billing report on the way out.
      await Promise.all(procs.map((p) => p.stop(3000)));
      for (const [i, p] of procs.entries()) writeFileSync(join(options.dir, `${names[i]}.log`), p.output());
      const cdnBytes = readReport();
      cdnSamples.push({ t: (Date.now() - started) / 1000, totalBytes: cdnBytes });
      return { cdnBytes, edgeBytes, cdnClients: readClients() };
    },
  };
}
