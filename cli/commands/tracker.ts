import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  createTrustedKeys,
  loadPrivateKey,
  loadPublicKey,
  openStore,
  rawX25519PrivateKey,
} from '../../release/index.ts';
import { AddressParseError, parseAddress } from '../../runtime/index.ts';
import { createNodeEnv } from '../../runtime/node/index.ts';
import {
  buildTracker,
  chainLocators,
  createAsnLocator,
  createMemorySwarmStore,
  createPrefixTable,
  createRedisSwarmStore,
  createRendezvousServer,
  createStoreCatalogue,
  DEFAULT_CATALOGUE_REFRESH_MS,
  DEFAULT_RATE_LIMIT,
  type PeeringScope,
  parsePrefixCsv,
  type RendezvousServer,
  TrackerConfigError,
  type TrackerOptions,
} from '../../tracker/index.ts';
import { createEndpoint, publicKeyOf } from '../../transport/index.ts';

interface TrackerFlags {
  listen: string;
  udp?: string;
  key?: string;
  store: string;
  s3Endpoint?: string;
  trustedKey: string[];
  threshold: string;
  redis?: string;
  redisPrefix: string;
  prefixes?: string;
  asnDb?: string;
  adminTokenFile?: string;
  edgeTokenFile?: string;
  cdn: string[];
  scope: string[];
  defaultScope: string;
  interval: string;
  rateLimit: string;
  refresh: string;
  allowUnknownTorrents?: boolean;
  trustProxy?: boolean;
  logLevel: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const SCOPES: PeeringScope[] = ['lan', 'isp', 'region', 'internet'];

function readToken(path: string, what: string): string {
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new TrackerConfigError(
      `cannot read ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  if (token.length < 16) throw new TrackerConfigError(`${what} in ${path} is shorter than 16 characters`);
  return token;
}

function positive(value: string, flag: string, allowZero = false): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0))
    throw new TrackerConfigError(
      `${flag} must be a ${allowZero ? 'non-negative' : 'positive'} number, got "${value}"`,
    );
  return n;
}

function scopeOf(value: string, flag: string): PeeringScope {
  if (!SCOPES.includes(value as PeeringScope))
    throw new TrackerConfigError(`${flag} must be one of ${SCOPES.join(', ')}, got "${value}"`);
  return value as PeeringScope;
}

export function registerTrackerCommand(program: Command): void {
  program
    .command('tracker')
    .description(
      'run the tracker: standard BitTorrent announce, agent API, edges, rendezvous, rollout, stats',
    )
    .requiredOption('--listen <host:port>', 'HTTP address, e.g. 0.0.0.0:8000')
    .option('--udp <port>', 'UDP port of the rendezvous + STUN endpoint (omit to run without one)')
    .option('--key <file>', 'X25519 private key (PEM) of the UDP endpoint (default: a fresh key per run)')
    .requiredOption('--store <url>', 'object store with the releases: file:///dir or s3://bucket/prefix')
    .option('--s3-endpoint <url>', 'S3 endpoint for s3:// stores (default from AWS_ENDPOINT_URL)')
    .requiredOption(
      '--trusted-key <file.pub>',
      'trusted release signing key (Ed25519 PEM); repeatable',
      collect,
      [],
    )
    .option('--threshold <n>', 'signatures required from trusted keys', '1')
    .option('--redis <url>', 'share swarms with other tracker instances through Redis (redis://host:port)')
    .option('--redis-prefix <prefix>', 'key prefix in Redis', 'swarmlane:')
    .option('--prefixes <file>', 'operator prefix table CSV: cidr,asn,isp,region')
    .option(
      '--asn-db <file.mmdb>',
      'MaxMind ASN database (e.g. GeoLite2-ASN.mmdb): locality for addresses the prefix table lacks',
    )
    .option(
      '--admin-token-file <file>',
      'bearer token of the admin API (rollouts); without it the admin API is off',
    )
    .option('--edge-token-file <file>', 'bearer token edges must present to register (without it: open)')
    .option('--cdn <url>', 'CDN base URL serving store keys; repeatable', collect, [])
    .option(
      '--scope <product=scope>',
      'peering scope of a product: lan, isp, region or internet; repeatable',
      collect,
      [],
    )
    .option('--default-scope <scope>', 'peering scope of products not named by --scope', 'internet')
    .option('--interval <seconds>', 'announce interval of established swarms', '900')
    .option(
      '--rate-limit <per-second>',
      'requests per second per client address (0 = off)',
      String(DEFAULT_RATE_LIMIT.perSecond),
    )
    .option(
      '--refresh <seconds>',
      'how often channel pointers are re-read from the store',
      String(DEFAULT_CATALOGUE_REFRESH_MS / 1000),
    )
    .option('--allow-unknown-torrents', 'serve standard announces for torrents the store does not know')
    .option(
      '--trust-proxy',
      'take client addresses from X-Forwarded-For (only behind your own load balancer)',
    )
    .option('--log-level <level>', 'JSON log level on stderr', 'info')
    .action(async (flags: TrackerFlags) => {
      // Validate every flag before opening anything.
      let listen: { host: string; port: number };
      try {
        listen = parseAddress(flags.listen);
      } catch (error) {
        if (error instanceof AddressParseError) throw new TrackerConfigError(`--listen: ${error.message}`);
        throw error;
      }
      const udpPort = flags.udp === undefined ? null : positive(flags.udp, '--udp', true);
      if (udpPort !== null && (!Number.isInteger(udpPort) || udpPort > 65535))
        throw new TrackerConfigError('--udp must be a port number');
      if (flags.trustedKey.length === 0) throw new TrackerConfigError('give at least one --trusted-key');
      const trusted = createTrustedKeys(
        flags.trustedKey.map((path) => loadPublicKey(path, 'ed25519')),
        positive(flags.threshold, '--threshold'),
      );
      const scopes: Record<string, PeeringScope> = {};
      for (const entry of flags.scope) {
        const [product, scope] = entry.split('=');
        if (!product || !scope) throw new TrackerConfigError(`--scope expects product=scope, got "${entry}"`);
        scopes[product] = scopeOf(scope, '--scope');
      }
      let prefixes = null;
      if (flags.prefixes) {
        let text: string;
        try {
          text = readFileSync(flags.prefixes, 'utf8');
        } catch (error) {
          throw new TrackerConfigError(
            `cannot read --prefixes ${flags.prefixes}: ${(error as NodeJS.ErrnoException).code ?? error}`,
          );
        }
        prefixes = createPrefixTable(parsePrefixCsv(text));
      }
      let asnDb = null;
      if (flags.asnDb) {
        let bytes: Uint8Array;
        try {
          bytes = readFileSync(flags.asnDb);
        } catch (error) {
          throw new TrackerConfigError(
            `cannot read --asn-db ${flags.asnDb}: ${(error as NodeJS.ErrnoException).code ?? error}`,
          );
        }
        asnDb = createAsnLocator(bytes);
      }
      // The operator's table first, then MaxMind, then (per announce) the agent's hints.
      const locality = chainLocators([prefixes, asnDb]);
      for (const url of flags.cdn)
        if (!/^https?:\/\//.test(url))
          throw new TrackerConfigError(`--cdn must be an http(s) URL, got "${url}"`);
      const rate = positive(flags.rateLimit, '--rate-limit', true);
      const defaultScope = scopeOf(flags.defaultScope, '--default-scope');
      const announceIntervalSec = positive(flags.interval, '--interval');
      const refreshMs = positive(flags.refresh, '--refresh') * 1000;
      const adminToken = flags.adminTokenFile ? readToken(flags.adminTokenFile, 'admin token') : null;
      const edgeToken = flags.edgeTokenFile ? readToken(flags.edgeTokenFile, 'edge token') : null;
      const staticKey = flags.key ? rawX25519PrivateKey(loadPrivateKey(flags.key, 'x25519')) : null;

      const env = createNodeEnv({ logger: { level: flags.logLevel } });
      const logger = env.logger.child({ component: 'tracker' });
      const store = openStore(flags.store, {
        env: env.vars,
        ...(flags.s3Endpoint ? { s3Endpoint: flags.s3Endpoint } : {}),
      });
      const swarmStore = flags.redis
        ? createRedisSwarmStore({ url: flags.redis, prefix: flags.redisPrefix })
        : createMemorySwarmStore({ random: env.random, now: env.clock.now });
      const catalogue = createStoreCatalogue({ refreshMs, trusted }, { store, clock: env.clock, logger });

      let endpoint: ReturnType<typeof createEndpoint> | null = null;
      let rendezvous: RendezvousServer | null = null;
      let rendezvousInfo: TrackerOptions['rendezvous'] = null;
      if (udpPort !== null) {
        const socket = await env.udp.bind({ host: listen.host, port: udpPort });
        const privateKey = staticKey ?? env.random.bytes(32);
        endpoint = createEndpoint(
          { staticPrivateKey: privateKey },
          { socket, clock: env.clock, random: env.random, logger },
        );
        const bound = socket.localAddress();
        rendezvous = createRendezvousServer(
          {
            advertised: { host: listen.host, port: bound.port },
            scopes,
            defaultScope,
            prefixes: locality,
          },
          { endpoint, swarmStore, clock: env.clock, random: env.random, logger },
        );
        rendezvousInfo = {
          port: bound.port,
          publicKey: Buffer.from(publicKeyOf(privateKey)).toString('base64'),
        };
      }

      const { app } = buildTracker(
        {
          cdnBaseUrls: flags.cdn,
          prefixes: locality,
          scopes,
          defaultScope,
          announceIntervalSec,
          rateLimit:
            rate === 0 ? null : { ...DEFAULT_RATE_LIMIT, perSecond: rate, burst: Math.max(rate * 3, 1) },
          adminToken,
          edgeToken,
          allowUnknownTorrents: flags.allowUnknownTorrents === true,
          trustProxy: flags.trustProxy === true,
          rendezvous: rendezvousInfo,
        },
        { clock: env.clock, random: env.random, logger, swarmStore, catalogue },
      );
      const url = await app.listen({ host: listen.host, port: listen.port });
      process.stdout.write(
        `tracker listening on ${url}${rendezvousInfo ? ` (rendezvous + STUN on udp/${rendezvousInfo.port}, key ${rendezvousInfo.publicKey})` : ''}\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await app.close();
      rendezvous?.close();
      await endpoint?.close();
      await swarmStore.close();
    });
}
