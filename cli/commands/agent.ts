import { networkInterfaces } from 'node:os';
import { SingleBar } from 'cli-progress';
import { type Command, Option } from 'commander';
import type { AgentComponents } from '../../agent/agent.ts';
import { AgentError } from '../../agent/errors.ts';
import {
  type AgentConfig,
  createAgent,
  DEFAULT_CHANNEL,
  type DownloadJob,
  type FetchSummary,
  loadAgentConfig,
  parseAgentConfig,
} from '../../agent/index.ts';
import { createNodeEnv, createNodeTcpNetwork } from '../../runtime/node/index.ts';
import { defaultGateway } from './nat.ts';

interface FetchFlags {
  config?: string;
  product?: string;
  channel?: string;
  out?: string;
  json?: boolean;
  tracker?: string;
  cdn: string[];
  trustedKey: string[];
  /** Old name of --trusted-key, still accepted. */
  trust: string[];
  threshold?: string;
  state?: string;
  edge: string[];
  logLevel: string;
  traversal: boolean;
}

interface RunFlags {
  config: string;
  logLevel: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerAgentCommands(program: Command): void {
  const agent = program
    .command('agent')
    .description('the device agent: fetch, verify, install and seed releases');

  agent
    .command('fetch')
    .description('download and verify the current release once (peers, edges, CDN), like curl for a channel')
    .option('--config <file>', 'agent config file (YAML or JSON); flags below override it')
    .option('--product <name>', 'product to fetch (default: the first one the config follows)')
    .option('--channel <name>', `channel (default "${DEFAULT_CHANNEL}")`)
    .option('--out <file>', 'copy the verified file here')
    .option('--json', 'print a JSON summary on stdout instead of a progress bar')
    .option('--tracker <url>', 'tracker base URL')
    .option('--cdn <url>', 'CDN base URL (repeatable)', collect, [])
    .option('--trusted-key <file.pub>', 'trusted publisher Ed25519 public key (repeatable)', collect, [])
    // The flag was called --trust before every command agreed on --trusted-key.
    .addOption(new Option('--trust <file.pub>').hideHelp().argParser(collect).default([]))
    .option('--threshold <n>', 'signatures required from trusted keys (default 1)')
    .option('--state <dir>', 'state directory (downloads, resume state, device id)')
    .option('--edge <host:port@keyfile>', 'edge server with its static public key (repeatable)', collect, [])
    .option('--no-traversal', 'no NAT probe, port mapping or hole punching (plain BitTorrent-style peers)')
    .option('--log-level <level>', 'JSON log level on stderr', 'warn')
    .action(async (flags: FetchFlags) => {
      const config = fetchConfig(flags);
      const target = config.follow[0];
      if (!target)
        throw new AgentError('CONFIG_INVALID', 'no product given: use --product or "follow" in the config');
      const env = createNodeEnv({ logger: { level: flags.logLevel } });
      const agentInstance = createAgent(config, {
        ...env,
        logger: env.logger.child({ component: 'agent' }),
        tcp: createNodeTcpNetwork(),
        ...gatewayComponents(),
      });
      const stop = (): void => void agentInstance.stop('interrupted');
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const bar = flags.json || !process.stderr.isTTY ? undefined : createProgress();
      try {
        const summary = await agentInstance.fetch(target, {
          ...(flags.out ? { out: flags.out } : {}),
          onJob: (job) => bar?.attach(job),
        });
        bar?.stop();
        if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stdout.write(describe(summary));
      } finally {
        bar?.stop();
        await agentInstance.stop('fetch finished');
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });

  agent
    .command('run')
    .description('run the agent as a daemon: follow channels, download, install, seed (JSON logs)')
    .requiredOption('--config <file>', 'agent config file (YAML or JSON)')
    .option('--log-level <level>', 'JSON log level on stderr', 'info')
    .action(async (flags: RunFlags) => {
      const config = loadAgentConfig(flags.config);
      if (config.follow.length === 0)
        throw new AgentError('CONFIG_INVALID', 'agent config /follow: nothing to follow');
      const env = createNodeEnv({ logger: { level: flags.logLevel } });
      const logger = env.logger.child({ component: 'agent' });
      const agentInstance = createAgent(config, {
        ...env,
        logger,
        tcp: createNodeTcpNetwork(),
        ...gatewayComponents(),
      });
      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      // Pause / resume on command: SIGUSR1 pauses downloads and uploads, SIGUSR2 resumes.
      process.on('SIGUSR1', () => {
        logger.info('paused (SIGUSR1)');
        agentInstance.pause();
      });
      process.on('SIGUSR2', () => {
        logger.info('resumed (SIGUSR2)');
        agentInstance.resume();
      });
      try {
        while (!abort.signal.aborted) {
          for (const target of config.follow) {
            try {
              const summary = await agentInstance.fetch(target, {
                seed: true,
                install: true,
                respectRollout: true,
              });
              logger.info({ summary }, 'release ready');
            } catch (error) {
              if (abort.signal.aborted) break;
              logger.error({ err: error, product: target.product }, 'update check failed');
            }
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, config.policy.checkIntervalSeconds * 1000);
            abort.signal.addEventListener('abort', () => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
      } finally {
        await agentInstance.stop('SIGTERM');
        logger.info({ deviceId: agentInstance.deviceId() }, 'agent stopped');
      }
    });
}

/** Config from --config plus flag overrides, or from flags alone (the curl-like form). */
function fetchConfig(flags: FetchFlags): AgentConfig {
  const base: AgentConfig | undefined = flags.config ? loadAgentConfig(flags.config) : undefined;
  const trustedKeys = [...flags.trustedKey, ...flags.trust];
  if (!base) {
    const missing = [
      !flags.state && '--state',
      trustedKeys.length === 0 && '--trusted-key',
      !flags.product && '--product',
      flags.cdn.length === 0 && !flags.tracker && flags.edge.length === 0 && '--cdn',
    ].filter(Boolean);
    if (missing.length > 0)
      throw new AgentError(
        'CONFIG_INVALID',
        `without --config, ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} required`,
      );
  }
  const raw = {
    trust: {
      keys: trustedKeys.length > 0 ? trustedKeys : (base?.trust.keys ?? []),
      threshold: flags.threshold ? Number(flags.threshold) : (base?.trust.threshold ?? 1),
    },
    stateDir: flags.state ?? base?.stateDir ?? '',
    ...(flags.tracker || base?.tracker ? { tracker: flags.tracker ?? base?.tracker } : {}),
    cdn: flags.cdn.length > 0 ? flags.cdn : (base?.cdn ?? []),
  };
  const config = parseAgentConfig(raw, process.cwd());
  const product = flags.product ?? base?.follow[0]?.product;
  const channel = flags.channel ?? (flags.product ? undefined : base?.follow[0]?.channel) ?? DEFAULT_CHANNEL;
  const edges =
    flags.edge.length > 0
      ? parseAgentConfig({ ...raw, edges: flags.edge }, process.cwd()).edges
      : (base?.edges ?? []);
  return {
    ...(base ?? config),
    trust: config.trust,
    stateDir: config.stateDir,
    tracker: config.tracker,
    cdn: config.cdn,
    edges,
    follow: product ? [{ product, channel }] : [],
    network: {
      ...(base ?? config).network,
      traversal: flags.traversal && (base ?? config).network.traversal,
    },
  };
}

/** The default gateway (for PCP / NAT-PMP / UPnP) and our address on the interface facing it. */
function gatewayComponents(): Pick<AgentComponents, 'portMapGateway'> {
  const route = defaultGateway();
  if (!route) return { portMapGateway: null };
  const own = (networkInterfaces()[route.iface] ?? []).find((a) => a.family === 'IPv4' && !a.internal);
  return { portMapGateway: own ? { gateway: route.gateway, internalHost: own.address } : null };
}

function describe(s: FetchSummary): string {
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  const parts = Object.entries(s.bytesBySource)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${mb(v)}`);
  return (
    `${s.product} ${s.version} verified (sha256 ${s.sha256})\n` +
    `  file: ${s.out ?? s.path}\n` +
    `  from: ${parts.length > 0 ? parts.join(', ') : 'nothing new (already on disk)'}; ` +
    `${s.resumedPieces}/${s.pieces} pieces resumed; ${(s.completionMs / 1000).toFixed(1)} s\n`
  );
}

/** Progress bar on a TTY: bytes per source class, rate, ETA. */
function createProgress(): { attach(job: DownloadJob): void; stop(): void } {
  const bar = new SingleBar({
    format: '{bar} {percentage}% | {value}/{total} MB | {rate} MB/s | ETA {eta_formatted} | {sources}',
    stream: process.stderr,
    hideCursor: true,
  });
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  const render = (job: DownloadJob): void => {
    const p = job.engine.progress();
    const sources = Object.entries(p.bytesBySource)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${(v / 1e6).toFixed(1)}`)
      .join(' ');
    bar.update(Math.round(p.haveBytes / 1e5) / 10, { rate: (p.rateBps / 1e6).toFixed(2), sources });
  };
  return {
    attach(job) {
      bar.start(Math.round(job.release.manifest.size / 1e5) / 10, 0, { rate: '0.00', sources: '' });
      started = true;
      timer = setInterval(() => render(job), 250);
      job.engine.on((e) => {
        if (e.type === 'complete') render(job);
      });
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (started) bar.stop();
      started = false;
    },
  };
}
