import type { Command } from 'commander';
import { createEdgeNode, EdgeError, parseByteSize, parseMbit } from '../../edge/index.ts';
import {
  createTrustedKeys,
  loadPrivateKey,
  loadPublicKey,
  openStore,
  rawX25519PrivateKey,
} from '../../release/index.ts';
import { type Address, AddressParseError, formatAddress, parseAddress } from '../../runtime/index.ts';
import { createNodeEnv } from '../../runtime/node/index.ts';

/** `HOST:PORT` flag -> Address, as a CONFIG_INVALID error the CLI prints in one line. */
export function parseListen(input: string): Address {
  try {
    return parseAddress(input);
  } catch (error) {
    if (error instanceof AddressParseError) throw new EdgeError('CONFIG_INVALID', error.message);
    throw error;
  }
}

interface EdgeFlags {
  listen: string;
  tracker?: string;
  store?: string;
  originUrl?: string;
  cacheDir: string;
  cacheBytes: string;
  memoryBytes: string;
  key: string;
  id?: string;
  region: string;
  capacity?: string;
  sessionRate?: string;
  maxSessions: string;
  metrics?: string;
  advertise?: string;
  trustedKey?: string[];
  threshold: string;
  s3Endpoint?: string;
  congestion: string;
  retryThreshold: string;
}

export function registerEdgeCommand(program: Command): void {
  program
    .command('edge')
    .description(
      'run an edge server: PZ/UDP piece server with a verified disk cache, origin pull, STUN and tracker heartbeats',
    )
    .requiredOption('--listen <host:port>', 'UDP address for PZ sessions and STUN, e.g. 0.0.0.0:7000')
    .requiredOption('--key <file>', 'X25519 private key (PEM) — devices pin its public half')
    .requiredOption('--cache-dir <dir>', 'piece cache directory (re-checked on start)')
    .option('--cache-bytes <size>', 'piece cache byte cap (e.g. 20G)', '10G')
    .option('--memory-bytes <size>', 'memory for hot verified pieces', '64M')
    .option('--store <url>', 'origin object store: file:///dir or s3://bucket/prefix')
    .option('--origin-url <url>', 'origin as an upstream CDN base URL instead of --store')
    .option('--tracker <url>', 'tracker base URL to register and heartbeat with')
    .option('--id <id>', 'edge id in the tracker registry (default: edge-<port>)')
    .option('--region <region>', 'region the edge serves', 'default')
    .option('--capacity <mbit>', 'total egress cap in Mbit/s (also reported to the tracker)')
    .option('--session-rate <mbit>', 'egress cap per session in Mbit/s')
    .option('--max-sessions <n>', 'sessions served at once', '1000')
    .option('--metrics <host:port>', 'HTTP address for /metrics and /healthz')
    .option('--advertise <host:port>', 'address registered with the tracker (default: --listen)')
    .option('--trusted-key <file...>', 'verify manifests against these Ed25519 public keys')
    .option('--threshold <n>', 'signatures required with --trusted-key', '1')
    .option('--s3-endpoint <url>', 'S3 endpoint for s3:// stores')
    .option('--congestion <cc>', 'congestion controller: bbr or newreno', 'bbr')
    .option('--retry-threshold <n>', 'half-open handshakes above which new ones get a stateless RETRY', '128')
    .action(async (flags: EdgeFlags) => {
      const listen = parseListen(flags.listen);
      if (!flags.store === !flags.originUrl)
        throw new EdgeError('CONFIG_INVALID', 'give exactly one of --store and --origin-url');
      const maxSessions = Number(flags.maxSessions);
      if (!Number.isInteger(maxSessions) || maxSessions < 1)
        throw new EdgeError('CONFIG_INVALID', '--max-sessions must be a positive integer');
      if (flags.congestion !== 'bbr' && flags.congestion !== 'newreno')
        throw new EdgeError('CONFIG_INVALID', '--congestion must be bbr or newreno');
      const retryThreshold = Number(flags.retryThreshold);
      if (!Number.isInteger(retryThreshold) || retryThreshold < 0)
        throw new EdgeError('CONFIG_INVALID', '--retry-threshold must be a non-negative integer');
      const metricsAddress = flags.metrics ? parseListen(flags.metrics) : undefined;
      const staticPrivateKey = rawX25519PrivateKey(loadPrivateKey(flags.key, 'x25519'));
      const trusted = flags.trustedKey?.length
        ? createTrustedKeys(
            flags.trustedKey.map((path) => loadPublicKey(path, 'ed25519')),
            Number(flags.threshold),
          )
        : undefined;
      const env = createNodeEnv();
      const logger = env.logger.child({ component: 'edge' });
      const advertise = flags.advertise ? parseListen(flags.advertise) : undefined;
      if (!advertise && flags.tracker && listen.host === '0.0.0.0')
        logger.warn('listening on 0.0.0.0 without --advertise: the tracker will list 0.0.0.0');
      const node = await createEdgeNode(
        {
          id: flags.id ?? `edge-${listen.port || Buffer.from(env.random.bytes(4)).toString('hex')}`,
          region: flags.region,
          staticPrivateKey,
          listen,
          store: flags.store
            ? openStore(flags.store, { s3Endpoint: flags.s3Endpoint, env: env.vars })
            : undefined,
          originUrl: flags.originUrl,
          cacheDir: flags.cacheDir,
          cacheBytes: parseByteSize(flags.cacheBytes, '--cache-bytes'),
          memoryBytes: parseByteSize(flags.memoryBytes, '--memory-bytes'),
          trackerUrl: flags.tracker,
          trackerToken: env.vars.SWARMLANE_EDGE_TOKEN,
          trusted,
          capacityBytesPerSecond: flags.capacity ? parseMbit(flags.capacity, '--capacity') : undefined,
          sessionBytesPerSecond: flags.sessionRate
            ? parseMbit(flags.sessionRate, '--session-rate')
            : undefined,
          maxSessions,
          // Default: the bound socket's address (right for a specific host, even with port 0).
          advertiseAddress: advertise,
          transport: { congestion: flags.congestion, retryThreshold },
        },
        { udp: env.udp, http: env.http, clock: env.clock, random: env.random, logger },
      );
      const metricsUrl = metricsAddress
        ? await node.httpApp.listen({ host: metricsAddress.host, port: metricsAddress.port })
        : null;
      node.server.start();
      const key = Buffer.from(node.server.publicKey).toString('base64');
      process.stdout.write(
        `edge ${node.server.trackerInfo().id} listening on udp ${formatAddress(node.server.address())} key ${key}` +
          `${metricsUrl ? ` metrics ${metricsUrl}/metrics` : ''} (cache: ${node.cacheCheck.kept} pieces kept, ${node.cacheCheck.dropped} dropped)\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await node.close();
    });
}
