import { SwarmlaneError } from '../runtime/index.ts';

/** Failures of the edge server, its piece cache and origin pull. Codes are stable. */
export class EdgeError extends SwarmlaneError {}

/** The device could not reach any edge in time; it must fail forward to peers or the CDN. */
export class NoEdgeError extends SwarmlaneError {
  constructor(message: string) {
    super('NO_EDGE', message);
  }
}

/** Failures of the lab CDN (bad configuration, store unreachable). HTTP errors are answered, not thrown. */
export class CdnError extends SwarmlaneError {}
