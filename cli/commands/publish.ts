import { setFlagsFromString } from 'node:v8';
import { type Command, InvalidArgumentError } from 'commander';

interface PublishFlags {
  product: string;
  version: string;
  channel: string;
  key: string;
  store: string;
  s3Endpoint?: string;
  pieceSize?: number;
  tracker?: string;
  webseed?: string;
  expires?: number;
  json?: boolean;
}

/** Accepts bytes, or a K/KiB/M/MiB suffix (powers of 1024): 262144, 256K, 1MiB. */
export function parseByteSize(value: string): number {
  const match = /^(\d+)\s*(k|kib|m|mib)?$/i.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a size in bytes, e.g. 262144 or 256K');
  const unit = (match[2] ?? '').toLowerCase();
  return Number(match[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1048576 : 1);
}

function parseDays(value: string): number {
  const days = Number(value);
  if (!Number.isFinite(days) || days <= 0)
    throw new InvalidArgumentError('expected a positive number of days');
  return days;
}

/** Aborts on the first SIGINT/SIGTERM so an interrupted publish stops cleanly, channel untouched. */
export function abortOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * Keeps V8's young generation at the size it has now instead of letting it double up to 2 x 16 MiB.
 * Loading the AWS SDK leaves enough survivors to grow it to the maximum, and over a long upload both
 * semi-spaces then stay resident: about 25 MiB of a publish's peak RSS (measured with s3rver; the
 * issue bounds publish at 150 MB). A publish allocates little per byte (the upload reuses fixed part
 * buffers), so the small young generation costs no measurable time. The flag is read at each growth,
 * which is why setting it this late works; it must come after tsx's loader thread exists (starting a
 * worker re-applies the command-line flags). Where V8 ignores it, publish only uses more memory.
 */
function capYoungGeneration(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}

export function registerPublishCommand(program: Command): void {
  // `publish --version V` must reach the subcommand; without positional options commander treats any
  // `--version` as the program's own version flag. `swarmlane --version` keeps working.
  program.enablePositionalOptions();
  program
    .command('publish')
    .description('publish FILE as a signed release: blob, .torrent, manifest, then the channel pointer')
    .argument('<file>', 'the release file')
    .requiredOption('--product <name>', 'product name')
    .requiredOption('--version <semver>', 'release version; must be greater than the channel current')
    .option('--channel <name>', 'channel to move to this release', 'stable')
    .requiredOption('--key <path>', 'Ed25519 private key (PKCS#8 PEM) that signs the release')
    .requiredOption('--store <url>', 'object store: file:///dir or s3://bucket/prefix')
    .option('--s3-endpoint <url>', 'S3 endpoint URL (default: AWS_ENDPOINT_URL_S3 or AWS)')
    .option('--piece-size <bytes>', 'piece size, power of two from 16K to 16M (default 256K)', parseByteSize)
    .option('--tracker <url>', 'tracker base URL; the torrent announces to <url>/announce')
    .option('--webseed <url>', 'CDN base URL serving the store; added to the torrent as a BEP 19 web seed')
    .option(
      '--expires <days>',
      'validity of the manifest and channel pointer in days (default 30)',
      parseDays,
    )
    .option('--json', 'print the result as JSON on stdout')
    .action(async (file: string, flags: PublishFlags) => {
      capYoungGeneration();
      // The AWS SDK warns once per process about a Node version it will drop in 2027: noise for a CLI user.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      // Loaded on use so `swarmlane <other command>` does not pay for the publisher.
      const [{ createPublisherProgress, publishRelease }, { loadPrivateKey, openStore }, { createNodeEnv }] =
        await Promise.all([
          import('../../publisher/index.ts'),
          import('../../release/index.ts'),
          import('../../runtime/node/index.ts'),
        ]);
      const env = createNodeEnv({ logger: { level: logLevel() } });
      const signingKey = loadPrivateKey(flags.key, 'ed25519');
      const store = openStore(flags.store, {
        env: env.vars,
        ...(flags.s3Endpoint ? { s3Endpoint: flags.s3Endpoint } : {}),
      });
      const progress = createPublisherProgress(!flags.json, env.clock);
      const abort = abortOnSignals();
      try {
        const result = await publishRelease(
          {
            file,
            product: flags.product,
            version: flags.version,
            channel: flags.channel,
            ...(flags.pieceSize !== undefined ? { pieceSize: flags.pieceSize } : {}),
            ...(flags.tracker !== undefined ? { trackerUrl: flags.tracker } : {}),
            ...(flags.webseed !== undefined ? { webseedUrl: flags.webseed } : {}),
            ...(flags.expires !== undefined ? { expiresDays: flags.expires } : {}),
          },
          { store, signingKeys: [signingKey], clock: env.clock, logger: env.logger },
          { signal: abort.signal, onProgress: progress.onProgress },
        );
        progress.stop();
        const { changed, ...json } = result;
        if (flags.json) process.stdout.write(`${JSON.stringify(json)}\n`);
        else
          process.stdout.write(
            changed
              ? `published ${result.product} ${result.version} to ${result.channel} (sequence ${result.sequence}, ${result.pieceCount} pieces, infohash ${result.infoHash})\n`
              : `${result.product} ${result.version} is already published on ${result.channel} (sequence ${result.sequence}); nothing changed\n`,
          );
      } finally {
        progress.stop();
        abort.dispose();
      }
    });
}

/** Library logs go to stderr as JSON; quiet unless asked (SWARMLANE_LOG_LEVEL=info). */
function logLevel(): string {
  return process.env.SWARMLANE_LOG_LEVEL ?? 'warn';
}
