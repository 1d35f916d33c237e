import { SwarmlaneError } from '../runtime/index.ts';

/**
 * A signed document or piece failed verification. `code` names the check that failed, so a device can
 * report *why* it refused an update (SIGNATURE_INVALID, THRESHOLD_NOT_MET, EXPIRED, ROLLBACK,
 * HASH_MISMATCH, SCHEMA_INVALID, PIECE_HASH_MISMATCH, MISMATCH).
 */
export class ReleaseVerifyError extends SwarmlaneError {}

/** Object store failures: NOT_FOUND, ALREADY_EXISTS, STORE_UNREACHABLE, STORE_UNAUTHORIZED, STORE_ERROR. */
export class StoreError extends SwarmlaneError {}

/** A key file that is missing, unreadable or of the wrong type: KEY_UNREADABLE, KEY_INVALID. */
export class KeyError extends SwarmlaneError {}
