import { type Command, Option } from 'commander';
import { SwarmlaneError } from '../../runtime/index.ts';

interface VerifyFlags {
  store: string;
  s3Endpoint?: string;
  product: string;
  channel: string;
  trustedKey: string[];
  /** Old name of --trusted-key, still accepted. */
  pubkey: string[];
  threshold: string;
  file?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description('verify the channel pointer, the manifest, the torrent and every piece of a release')
    .requiredOption('--store <url>', 'object store: file:///dir or s3://bucket/prefix')
    .option('--s3-endpoint <url>', 'S3 endpoint URL (default: AWS_ENDPOINT_URL_S3 or AWS)')
    .requiredOption('--product <name>', 'product name')
    .option('--channel <name>', 'channel', 'stable')
    .option(
      '--trusted-key <file.pub>',
      'trusted Ed25519 public key (SPKI PEM); repeat for several',
      collect,
      [],
    )
    .option('--threshold <n>', 'signatures required from the trusted keys', '1')
    // The flag was called --pubkey before every command agreed on --trusted-key.
    .addOption(new Option('--pubkey <file.pub>').hideHelp().argParser(collect).default([]))
    .option('--file <path>', 'check this local file instead of reading the stored blob')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (flags: VerifyFlags) => {
      // The AWS SDK warns once per process about a Node version it will drop in 2027: noise for a CLI user.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      // Loaded on use so `swarmlane <other command>` does not pay for the verifier.
      const [
        { createProgressBar, verifyRelease },
        { createTrustedKeys, loadPublicKey, openStore },
        { createNodeEnv },
      ] = await Promise.all([
        import('../../publisher/index.ts'),
        import('../../release/index.ts'),
        import('../../runtime/node/index.ts'),
      ]);
      const keyPaths = [...flags.trustedKey, ...flags.pubkey];
      if (keyPaths.length === 0)
        throw new SwarmlaneError('CONFIG_INVALID', 'give at least one --trusted-key');
      const threshold = Number(flags.threshold);
      if (!Number.isInteger(threshold) || threshold < 1 || threshold > keyPaths.length)
        throw new SwarmlaneError(
          'CONFIG_INVALID',
          `--threshold must be a whole number from 1 to the number of --trusted-key flags (${keyPaths.length})`,
        );
      const env = createNodeEnv({ logger: { level: process.env.SWARMLANE_LOG_LEVEL ?? 'warn' } });
      const bar = createProgressBar(!flags.json, env.clock);
      try {
        const trusted = createTrustedKeys(
          keyPaths.map((path) => loadPublicKey(path, 'ed25519')),
          threshold,
        );
        const store = openStore(flags.store, {
          env: env.vars,
          ...(flags.s3Endpoint ? { s3Endpoint: flags.s3Endpoint } : {}),
        });
        const report = await verifyRelease(
          { product: flags.product, channel: flags.channel, ...(flags.file ? { file: flags.file } : {}) },
          { store, trusted, clock: env.clock },
          { onProgress: (bytes, total) => bar.update(bytes, total, 'verify') },
        );
        bar.stop();
        if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
        else
          process.stdout.write(
            `ok: ${report.product} ${report.version} on ${report.channel} (sequence ${report.sequence}, ${report.pieceCount} pieces from ${report.content}): ${report.checks.join(', ')}\n`,
          );
      } catch (error) {
        bar.stop();
        if (flags.json && error instanceof SwarmlaneError)
          process.stdout.write(
            `${JSON.stringify({ ok: false, code: error.code, message: error.message })}\n`,
          );
        throw error;
      }
    });
}
