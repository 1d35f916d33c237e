import { SwarmlaneError } from '../runtime/index.ts';

/**
 * The one catalogue of tracker errors: every 4xx the tracker sends carries one of these codes, so
 * agents and operators can match on them. Status codes live here too, not scattered across routes.
 */
export const TRACKER_ERRORS = {
  BAD_REQUEST: 400,
  INFO_HASH_INVALID: 400,
  PEER_ID_INVALID: 400,
  PORT_INVALID: 400,
  NUMWANT_INVALID: 400,
  EVENT_INVALID: 400,
  RELEASE_ID_INVALID: 400,
  UNAUTHORIZED: 401,
  DEVICE_ID_TAKEN: 403,
  SCOPE_FORBIDDEN: 403,
  RELEASE_UNKNOWN: 404,
  TORRENT_UNKNOWN: 404,
  ROLLOUT_UNKNOWN: 404,
  EDGE_UNKNOWN: 404,
  NOT_FOUND: 404,
  ROLLOUT_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  STORE_UNAVAILABLE: 503,
} as const satisfies Record<string, number>;

export type TrackerErrorCode = keyof typeof TRACKER_ERRORS;

export class TrackerError extends SwarmlaneError {
  declare readonly code: TrackerErrorCode;
  readonly statusCode: number;
  constructor(code: TrackerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.statusCode = TRACKER_ERRORS[code];
  }
}

/** Configuration problems found at startup (bad prefix table, unreadable token file). */
export class TrackerConfigError extends SwarmlaneError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRACKER_CONFIG_INVALID', message, options);
  }
}
