import type { FastifyError } from 'fastify';
import type { Logger } from '../runtime/index.ts';
import { encodeBtFailure } from './bt-protocol.ts';
import { TRACKER_ERRORS, TrackerError, type TrackerErrorCode } from './errors.ts';
import type { TrackerMetrics } from './metrics.ts';

export interface ErrorAnswer {
  status: number;
  contentType: string | null;
  body: Buffer | { error: { code: string; message: string } };
}

/**
 * What the tracker answers for a refused or failed request, counted in the metrics. The fastify error
 * handler and the announce fast path (fast-announce.ts) both answer through this, so a refusal reads
 * the same whichever path took the request.
 */
export function errorAnswer(
  error: FastifyError | TrackerError | Error,
  url: string,
  metrics: TrackerMetrics,
  log: Logger,
): ErrorAnswer {
  let code: TrackerErrorCode;
  let message = error.message;
  const statusCode = (error as FastifyError).statusCode;
  if (error instanceof TrackerError) {
    code = error.code;
  } else if ((error as FastifyError).validation) {
    code = 'BAD_REQUEST';
  } else if ((error as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    code = 'PAYLOAD_TOO_LARGE';
  } else if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    code = 'BAD_REQUEST';
  } else {
    log.error({ err: error, url }, 'tracker request failed');
    metrics.errors.inc({ code: 'INTERNAL' });
    return {
      status: 500,
      contentType: null,
      body: { error: { code: 'INTERNAL', message: 'internal error' } },
    };
  }
  metrics.errors.inc({ code });
  // Standard clients get failures the BitTorrent way even when a hook (rate limit) refused them.
  const path = url.split('?')[0];
  if (path === '/announce' || path === '/scrape')
    return { status: 200, contentType: 'text/plain', body: Buffer.from(encodeBtFailure(message, code)) };
  if (code === 'RATE_LIMITED') message = 'too many requests; slow down';
  return {
    status: TRACKER_ERRORS[code],
    contentType: null,
    body: { error: { code, message: message.split('\n')[0] as string } },
  };
}
