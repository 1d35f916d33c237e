/**
 * `swarmlane lab netns`: a scenario on the real Linux network stack. Builds the topology in
 * namespaces once, then per strategy starts fresh infrastructure processes and one real process per
 * device, waits until every device has verified the release (or the deadline), stops everything and
 * reads the counters: the CDN's own billing report, the edges' metrics, each agent's summary.
 *
 *   swarmlane        agents with tracker (locality prefixes), edges and CDN
 *   client-server    agents with only the CDN
 *   plain-bittorrent stock aria2c per device: the release's .torrent, the tracker's standard announce,
 *                    the CDN as a BEP 19 web seed (the thesis setup); skipped when aria2c is missing
 *
 * Teardown always runs: `finally`, SIGINT/SIGTERM handlers, and lab/netns sweeps namespaces of dead
 * runs before it starts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasBinary, type LabProcess, netnsSupport } from '../netns/index.ts';
import {
  completionStats,
  fluidLowerBoundSeconds,
  type LabResults,
  rateSeries,
  STRATEGIES,
  type StrategyName,
  type StrategyResult,
} from '../report/results.ts';
import type { Scenario } from '../scenario/schema.ts';
import { RealnetError } from './errors.ts';
import { CDN_URL, type Infra, startInfra, TRACKER_URL } from './infra.ts';
import { prioritized } from './priority.ts';
import { REALNET_CHANNEL, REALNET_PRODUCT, type RealRelease } from './release.ts';
import { openRealnetSession, prepareRealnetArtifacts } from './session.ts';
import {
  agentTcpPort,
  agentUdpPort,
  buildRealTopology,
  type RealDevice,
  type RealTopology,
} from './topology.ts';

export interface RealnetProgress {
  phase: 'setup' | StrategyName;
  message: string;
  completed: number;
  devices: number;
}

export interface RunRealnetOptions {
  /** Strategies to run; client-server always runs (it is the baseline). Default: all three. */
  strategies?: readonly StrategyName[];
  /** Wall-clock limit per strategy, seconds. Default min(scenario deadline, 900). */
  deadlineSeconds?: number;
  onProgress?: (p: RealnetProgress) => void;
  /** Keep the scratch directory (store, logs, device state) here instead of a removed temp dir. */
  workDir?: string;
  /**
   * Agents also run the TCP BitTorrent wire (listener + tcpPort in announces), as `swarmlane agent`
   * does when its config sets network.tcpPort. Default off: no stock client takes part in the
   * strategies (interop turns it on).
   */
  tcpWire?: boolean;
}

interface DeviceOutcome {
  device: RealDevice;
  completionSeconds: number | undefined;
  bytesBySource: Record<string, number>;
  uploaded: number;
  error: string | undefined;
  /** sha256 of what the device wrote matches the release. */
  exact: boolean;
}

export interface RealnetStrategyRun {
  strategy: StrategyName;
  outcomes: DeviceOutcome[];
  cdnBytes: number;
  edgeBytes: number;
  cdnSamples: Array<{ t: number; totalBytes: number }>;
}

export interface RealnetResults extends LabResults {
  /** Real-kernel extras: per-device outcome, what was approximated. */
  realnet: {
    /** Namespaces of this run were named sl-<runId>-*. */
    runId: string;
    byteExact: Record<string, { devices: number; exact: number }>;
    devices: Array<{ name: string; natClass: string; ip: string; isp: string }>;
    upnpRouters: number;
    notes: string[];
  };
}

const ALL: readonly StrategyName[] = STRATEGIES;

export async function runRealnetLab(
  scenario: Scenario,
  options: RunRealnetOptions = {},
): Promise<RealnetResults> {
  const support = netnsSupport();
  if (!support.ok) throw new RealnetError('NETNS_UNSUPPORTED', support.reason);
  for (const bin of ['nft', 'tc', 'gcc', 'curl'])
    if (!hasBinary(bin)) throw new RealnetError('NETNS_UNSUPPORTED', `${bin} is not installed`);
  const progress = options.onProgress ?? (() => {});
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), `sl-netns-${scenario.name}-`));
  mkdirSync(workDir, { recursive: true });
  const ownsWorkDir = options.workDir === undefined;
  const started = Date.now();
  const session = await openRealnetSession();
  const { lab } = session;
  try {
    progress({ phase: 'setup', message: 'publishing the release', completed: 0, devices: 0 });
    const { release, cli, device } = await prepareRealnetArtifacts(scenario, workDir);
    const topology = await buildRealTopology(lab, scenario, {
      workDir,
      onStep: (what) => progress({ phase: 'setup', message: `building ${what}`, completed: 0, devices: 0 }),
    });
    const wanted = new Set<StrategyName>(['client-server', ...(options.strategies ?? ALL)]);
    const notes: string[] = [
      'completion times are wall-clock seconds from process start to verified file',
      'full-cone and address-restricted home NATs are emulated as nftables masquerade (port-restricted behaviour)',
    ];
    if (wanted.has('plain-bittorrent') && !hasBinary('aria2c')) {
      wanted.delete('plain-bittorrent');
      notes.push('plain-bittorrent skipped: aria2c is not installed');
    }
    if (scenario.churn.leaveMidDownload > 0 || scenario.churn.leaveAfterInstall > 0)
      notes.push('churn is not emulated on the real kernel (every device stays for the whole run)');
    const deadline = options.deadlineSeconds ?? Math.min(scenario.deadlineSeconds, 900);
    const runs = new Map<StrategyName, RealnetStrategyRun>();
    for (const strategy of ['client-server', 'swarmlane', 'plain-bittorrent'] as const) {
      if (!wanted.has(strategy)) continue;
      runs.set(
        strategy,
        await runStrategy({
          scenario,
          strategy,
          topology,
          release,
          cli,
          device,
          workDir,
          deadline,
          tcpWire: options.tcpWire ?? false,
          progress,
        }),
      );
    }
    const baseline = runs.get('client-server')!;
    const baselineInfra = baseline.cdnBytes + baseline.edgeBytes;
    const strategies = {} as Record<StrategyName, StrategyResult>;
    const byteExact: Record<string, { devices: number; exact: number }> = {};
    for (const [name, run] of runs) {
      strategies[name] = collect(scenario, topology, run, baselineInfra);
      byteExact[name] = { devices: run.outcomes.length, exact: run.outcomes.filter((o) => o.exact).length };
    }
    if (runs.has('plain-bittorrent'))
      notes.push(
        'plain-bittorrent (aria2c): peer bytes = verified bytes - CDN bytes (aria2c reports no per-source counters)',
      );
    return {
      scenario: scenario.name,
      description: scenario.description,
      seed: scenario.seed,
      releaseBytes: scenario.release.size,
      devices: topology.devices.length,
      strategies,
      wallSeconds: (Date.now() - started) / 1000,
      realnet: {
        runId: lab.runId,
        byteExact,
        devices: topology.devices.map((d) => ({
          name: d.name,
          natClass: d.natClass,
          ip: d.ip,
          isp: d.isp.name,
        })),
        upnpRouters: topology.upnpRouters,
        notes,
      },
    };
  } finally {
    await session.close();
    if (ownsWorkDir) rmSync(workDir, { recursive: true, force: true });
  }
}

interface StrategyContext {
  scenario: Scenario;
  strategy: StrategyName;
  topology: RealTopology;
  release: RealRelease;
  cli: string;
  device: string;
  workDir: string;
  deadline: number;
  tcpWire: boolean;
  progress: (p: RealnetProgress) => void;
}

async function runStrategy(ctx: StrategyContext): Promise<RealnetStrategyRun> {
  const { scenario, strategy, topology, release } = ctx;
  const dir = join(ctx.workDir, strategy);
  mkdirSync(dir, { recursive: true });
  const infra: Infra = await startInfra(topology.inet, {
    cli: ctx.cli,
    dir: join(dir, 'infra'),
    release,
    tracker: strategy !== 'client-server',
    allowUnknownTorrents: strategy === 'plain-bittorrent',
    edges: strategy === 'swarmlane' ? scenario.edges : [],
    prefixes: strategy === 'swarmlane' ? topology.prefixes : null,
    cdnCapacityMbps: scenario.cdn.capacityMbps,
  });
  const outcomes: DeviceOutcome[] = topology.devices.map((device) => ({
    device,
    completionSeconds: undefined,
    bytesBySource: {},
    uploaded: 0,
    error: undefined,
    exact: false,
  }));
  const procs: LabProcess[] = [];
  let finished = 0;
  const report = () =>
    ctx.progress({
      phase: strategy,
      message: `${finished}/${outcomes.length} devices done`,
      completed: finished,
      devices: outcomes.length,
    });
  let allDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  const finish = () => {
    finished++;
    report();
    if (finished === outcomes.length) allDone();
  };
  try {
    for (const outcome of outcomes) {
      const d = outcome.device;
      const stateDir = join(dir, d.name);
      mkdirSync(stateDir, { recursive: true });
      const startedAt = Date.now();
      const proc =
        strategy === 'plain-bittorrent'
          ? startAria2(d, stateDir, release)
          : startAgent(ctx, d, stateDir, infra, { tcpWire: ctx.tcpWire });
      procs.push(proc);
      void proc
        .waitForLine((line) => parseDone(line, strategy), ctx.deadline * 1000)
        .then(
          async (result) => {
            if (result.error) outcome.error = result.error;
            else {
              outcome.completionSeconds = (Date.now() - startedAt) / 1000;
              outcome.bytesBySource = result.bytesBySource;
              const path = result.path ?? join(stateDir, 'firmware.bin');
              outcome.exact = (await sha256Of(d, path)) === release.sha256;
            }
          },
          (error: unknown) => {
            outcome.error = error instanceof Error ? error.message.split('\n')[0] : String(error);
          },
        )
        .finally(finish);
      // Arrival process: a ramp spreads starts; Poisson/all-at-once start together (wall clock).
      if (scenario.arrival.kind === 'ramp' && outcomes.length > 1)
        await new Promise((r) =>
          setTimeout(
            r,
            (scenario.arrival.kind === 'ramp' ? scenario.arrival.overSeconds * 1000 : 0) /
              (outcomes.length - 1),
          ),
        );
    }
    await done;
  } finally {
    // Stop devices first (agents report what they uploaded), then the infrastructure.
    await Promise.all(
      procs.map(async (p, i) => {
        if (strategy !== 'plain-bittorrent' && p.child.exitCode === null) {
          const stopped = p.waitForLine(
            (l) => (parseJson(l)?.event === 'stopped' ? (parseJson(l) as { uploaded: number }) : undefined),
            5000,
          );
          p.child.kill('SIGTERM');
          const s = await stopped.catch(() => undefined);
          if (s) outcomes[i]!.uploaded = s.uploaded;
        }
        await p.stop(2000);
        writeFileSync(join(dir, outcomes[i]!.device.name, 'process.log'), p.output());
      }),
    );
  }
  const { cdnBytes, edgeBytes } = await infra.stop();
  writeFileSync(
    join(dir, 'outcomes.json'),
    JSON.stringify(
      outcomes.map((o) => ({ ...o, device: o.device.name })),
      null,
      2,
    ),
  );
  return { strategy, outcomes, cdnBytes, edgeBytes, cdnSamples: infra.cdnSamples };
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export interface DoneLine {
  error?: string;
  bytesBySource: Record<string, number>;
  path?: string;
}

export function parseDone(line: string, strategy: StrategyName): DoneLine | undefined {
  if (strategy === 'plain-bittorrent') {
    // The hook's line can share a line with aria2c's own console output (no newline before it).
    const done = line.indexOf('ARIA2-DONE ');
    if (done >= 0) return { bytesBySource: {}, path: line.slice(done + 'ARIA2-DONE '.length).trim() };
    if (line.includes('ARIA2-ERROR')) return { bytesBySource: {}, error: line };
    return undefined;
  }
  const o = parseJson(line);
  if (o?.event === 'done') {
    const summary = o.summary as { bytesBySource: Record<string, number>; path: string };
    return { bytesBySource: summary.bytesBySource, path: summary.path };
  }
  if (o?.event === 'error') return { bytesBySource: {}, error: String(o.message) };
  return undefined;
}

async function sha256Of(d: RealDevice, path: string): Promise<string> {
  const out = await d.ns.exec('sha256sum', [path]).catch(() => '');
  return out.split(/\s+/)[0] ?? '';
}

/**
 * A real agent process on a device, configured as the strategy's devices are. `tcpWire` turns on
 * the BitTorrent-over-TCP listener for stock clients: the interop run needs it; the strategies have
 * no stock client among the agents and run PZ only unless asked (`--tcp-wire`; with real-time
 * scheduling it made no difference to thesis-general: 76.7 % saved vs 76.0-76.9 %, RESULTS.md).
 */
export function startAgent(
  ctx: Pick<StrategyContext, 'scenario' | 'strategy' | 'release' | 'device'>,
  d: RealDevice,
  stateDir: string,
  infra: Pick<Infra, 'edgeSpecs'>,
  options: { tcpWire?: boolean } = {},
): LabProcess {
  const { scenario, strategy, release } = ctx;
  const deviceState = join(stateDir, 'device-state.json');
  writeFileSync(deviceState, JSON.stringify({ wifi: d.group.wifi, power: d.group.charging }));
  const config = {
    deviceId: `lab-${strategy}-${d.name}`,
    trust: { keys: [release.publicKeyPath] },
    ...(strategy !== 'client-server' ? { tracker: TRACKER_URL } : {}),
    ...(strategy === 'swarmlane' && infra.edgeSpecs.length ? { edges: infra.edgeSpecs } : {}),
    cdn: [CDN_URL],
    stateDir,
    // Bound to the device address (not 0.0.0.0): the agent then knows it is public when the tracker
    // sees that same address, and announces it as a LAN candidate to devices behind the same router.
    network: {
      udpHost: d.ip,
      udpPort: agentUdpPort(d.index),
      ...(options.tcpWire ? { tcpPort: agentTcpPort(d.index) } : {}),
      isp: d.isp.name,
      region: d.isp.region,
    },
    policy: {
      seedRatio: scenario.policies.seedRatio,
      seedSeconds: scenario.policies.seedSeconds,
      wifiOnly: scenario.policies.uploadOnlyOnWifiAndPower,
      powerOnly: scenario.policies.uploadOnlyOnWifiAndPower,
      infrastructureShareCap: scenario.policies.infrastructureShareCap,
    },
    deviceState: { provider: 'file', path: deviceState },
  };
  // Not agent.json: that is the agent's own state file in its stateDir, which would overwrite this.
  const configPath = join(stateDir, 'agent-config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return d.ns.spawn(
    ...prioritized(process.execPath, [ctx.device, configPath, REALNET_PRODUCT, REALNET_CHANNEL]),
  );
}

/** Stock aria2c on a device: the release's .torrent, our tracker's standard announce, the CDN web seed. */
export function startAria2(
  d: RealDevice,
  stateDir: string,
  release: RealRelease,
  extraArgs: string[] = [],
): LabProcess {
  // aria2c runs the hook when the download is verified (piece hashes) and keeps seeding.
  const hook = join(stateDir, 'done.sh');
  writeFileSync(hook, '#!/bin/sh\necho "ARIA2-DONE $3"\n', { mode: 0o755 });
  return d.ns.spawn(
    ...prioritized('aria2c', [
      `--dir=${stateDir}`,
      '--enable-dht=false',
      '--enable-dht6=false',
      '--bt-enable-lpd=false',
      '--enable-peer-exchange=true',
      `--listen-port=${agentTcpPort(d.index)}`,
      '--seed-ratio=0',
      '--bt-stop-timeout=0',
      '--check-integrity=true',
      '--summary-interval=0',
      '--show-console-readout=false',
      '--console-log-level=warn',
      '--file-allocation=none',
      `--on-bt-download-complete=${hook}`,
      ...extraArgs,
      release.torrentPath,
    ]),
  );
}

function collect(
  scenario: Scenario,
  topology: RealTopology,
  run: RealnetStrategyRun,
  baselineInfra: number,
): StrategyResult {
  const bytesBySource: Record<string, number> = { 'peer-same-isp': 0, 'peer-other-isp': 0, edge: 0, cdn: 0 };
  const completionTimes: number[] = [];
  for (const o of run.outcomes) {
    for (const [source, bytes] of Object.entries(o.bytesBySource))
      bytesBySource[source] = (bytesBySource[source] ?? 0) + bytes;
    if (o.completionSeconds !== undefined && o.exact) completionTimes.push(o.completionSeconds);
  }
  let peerBytes = (bytesBySource['peer-same-isp'] ?? 0) + (bytesBySource['peer-other-isp'] ?? 0);
  if (run.strategy === 'plain-bittorrent') {
    peerBytes = Math.max(0, completionTimes.length * scenario.release.size - run.cdnBytes);
    bytesBySource.cdn = run.cdnBytes;
    bytesBySource['peer-other-isp'] = peerBytes;
  }
  const infraBytes = run.cdnBytes + run.edgeBytes;
  // Egress series from the CDN's own report, sampled each second (deltas of its cumulative counter).
  const samples = run.cdnSamples.map((s, i) => ({
    t: s.t,
    bytes: s.totalBytes - (run.cdnSamples[i - 1]?.totalBytes ?? 0),
  }));
  const { series, peakMbps } = rateSeries(samples, 1);
  const serverUploadBps =
    scenario.cdn.capacityMbps * 1e6 +
    (run.strategy === 'swarmlane' ? scenario.edges.reduce((n, e) => n + e.capacityMbps * 1e6, 0) : 0);
  return {
    infraBytes,
    cdnBytes: run.cdnBytes,
    edgeBytes: run.edgeBytes,
    originBytes: 0,
    peerBytes,
    bytesBySource,
    savedVsClientServer: baselineInfra > 0 ? 1 - infraBytes / baselineInfra : 0,
    completed: completionTimes.length,
    devices: run.outcomes.length,
    completion: completionStats(completionTimes),
    intraIspPeerShare: peerBytes > 0 ? (bytesBySource['peer-same-isp'] ?? 0) / peerBytes : 0,
    lowerBoundSeconds: fluidLowerBoundSeconds({
      fileBytes: scenario.release.size,
      serverUploadBps,
      deviceDownloadBps: topology.devices.map((d) => d.downBps),
      deviceUploadBps: topology.devices.map((d) => d.upBps),
      peerAssisted: run.strategy !== 'client-server',
    }),
    peakInfraMbps: peakMbps,
    infraRateSeries: series,
    completionTimes,
    connections: [],
  };
}
