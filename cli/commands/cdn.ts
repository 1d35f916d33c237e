import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { createCdn, EdgeError, parseByteSize, parseMbit } from '../../edge/index.ts';
import { openStore } from '../../release/index.ts';
import { createNodeEnv } from '../../runtime/node/index.ts';
import { parseListen } from './edge.ts';

interface CdnFlags {
  listen: string;
  store: string;
  rate?: string;
  report?: string;
  reportInterval: string;
  cacheBytes: string;
  s3Endpoint?: string;
}

export function registerCdnCommand(program: Command): void {
  program
    .command('cdn')
    .description(
      'serve an object store over HTTP with Range, ETag, a cache and a billing report (the lab CDN)',
    )
    .requiredOption('--listen <host:port>', 'address to listen on, e.g. 127.0.0.1:8080')
    .requiredOption('--store <url>', 'object store: file:///dir or s3://bucket/prefix')
    .option('--rate <mbit>', 'total egress cap in Mbit/s (models a CDN under a flash crowd)')
    .option('--report <file>', 'write the billing report (JSON) here periodically and on shutdown')
    .option('--report-interval <seconds>', 'how often to rewrite --report', '10')
    .option('--cache-bytes <size>', 'memory cache in front of the store (e.g. 256M)', '256M')
    .option('--s3-endpoint <url>', 'S3 endpoint for s3:// stores (default from AWS_ENDPOINT_URL)')
    .action(async (flags: CdnFlags) => {
      const listen = parseListen(flags.listen);
      const cacheBytes = parseByteSize(flags.cacheBytes, '--cache-bytes');
      const rateBytesPerSecond = flags.rate === undefined ? undefined : parseMbit(flags.rate, '--rate');
      const intervalMs = Number(flags.reportInterval) * 1000;
      if (!(intervalMs > 0))
        throw new EdgeError('CONFIG_INVALID', '--report-interval must be a positive number of seconds');
      const env = createNodeEnv();
      const store = openStore(flags.store, { s3Endpoint: flags.s3Endpoint, env: env.vars });
      const cdn = createCdn(
        { cacheBytes, rateBytesPerSecond },
        { store, clock: env.clock, logger: env.logger.child({ component: 'cdn' }) },
      );
      const writeReport = (): void => {
        if (flags.report) writeFileSync(flags.report, `${JSON.stringify(cdn.billing(), null, 2)}\n`);
      };
      const url = await cdn.app.listen({ host: listen.host, port: listen.port });
      process.stdout.write(`cdn listening on ${url} (store ${flags.store})\n`);
      const timer = setInterval(writeReport, intervalMs);
      timer.unref();
      writeReport();
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      clearInterval(timer);
      await cdn.app.close();
      writeReport();
    });
}
