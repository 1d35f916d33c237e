import pino from 'pino';
import type { Logger } from '../logger.ts';

export interface NodeLoggerOptions {
  level?: string;
  /** Write JSON logs to this file descriptor; default stderr so stdout stays clean for --json output. */
  fd?: number;
}

export function createNodeLogger(options: NodeLoggerOptions = {}): Logger {
  return pino({ level: options.level ?? 'info' }, pino.destination({ fd: options.fd ?? 2, sync: true }));
}
