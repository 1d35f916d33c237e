import type { Env } from '../env.ts';
import { createNodeClock } from './clock.ts';
import { createNodeHttpClient } from './http.ts';
import { createNodeLogger, type NodeLoggerOptions } from './logger.ts';
import { createNodeRandom } from './random.ts';
import { createNodeUdpNetwork } from './udp.ts';

/** The real environment: wall clock, node:dgram, crypto randomness, pino, fetch, process.env. */
export function createNodeEnv(options: { logger?: NodeLoggerOptions } = {}): Env {
  return {
    clock: createNodeClock(),
    udp: createNodeUdpNetwork(),
    random: createNodeRandom(),
    logger: createNodeLogger(options.logger),
    http: createNodeHttpClient(),
    vars: { ...process.env },
  };
}
