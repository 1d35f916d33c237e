import type { Env } from '../env.ts';
import { createNodeClock } from './clock.ts';
import { createNodeHttpClient } from './http.ts';
import { createNodeLogger, type NodeLoggerOptions } from './logger.ts';
import { createNodeRandom } from './random.ts';
import { createNodeUdpNetwork } from './udp.ts';

/**
 * The real environment: wall clock, batched native UDP sockets (node:dgram when the addon is missing),
 * crypto randomness, pino, fetch, process.env.
 */
export function createNodeEnv(options: { logger?: NodeLoggerOptions } = {}): Env {
  const logger = createNodeLogger(options.logger);
  return {
    clock: createNodeClock(),
    // Given the logger so the socket choice and any fallback warning go to the structured log.
    udp: createNodeUdpNetwork({ logger }),
    random: createNodeRandom(),
    logger,
    http: createNodeHttpClient(),
    vars: { ...process.env },
  };
}
