import { SwarmlaneError } from '../runtime/index.ts';

/**
 * Stable codes the agent raises. Callers (CLI, lab, tests) match on `code`, never on the message.
 * CONFIG_INVALID       – the configuration failed validation (message names the field).
 * NO_SOURCES           – nothing left that can supply a missing piece.
 * DOWNLOAD_ABORTED     – stopped on request (pause/shutdown) before completion.
 * RELEASE_REFUSED      – a channel pointer or manifest failed verification (cause carries the check).
 * INSTALL_REFUSED      – the install step found the file unverified or older than the installed one.
 * INSTALL_FAILED       – the install hook exited non-zero.
 * STATE_CORRUPT        – the state file could not be read (it is then ignored and rebuilt).
 * NOT_ELIGIBLE         – the tracker's staged rollout has not reached this device yet.
 */
export type AgentErrorCode =
  | 'CONFIG_INVALID'
  | 'NO_SOURCES'
  | 'DOWNLOAD_ABORTED'
  | 'RELEASE_REFUSED'
  | 'INSTALL_REFUSED'
  | 'INSTALL_FAILED'
  | 'STATE_CORRUPT'
  | 'NOT_ELIGIBLE';

export class AgentError extends SwarmlaneError {
  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
