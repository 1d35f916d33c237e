import { SwarmlaneError } from '../runtime/index.ts';

/**
 * A publish refused or failed. Codes: INVALID_ARGUMENT, FILE_NOT_FOUND, FILE_UNREADABLE, FILE_EMPTY,
 * NOT_A_FILE, FILE_CHANGED, VERSION_INVALID, PIECE_SIZE_INVALID, ROLLBACK, VERSION_EXISTS,
 * KEY_MISMATCH, CONCURRENT_PUBLISH, STORED_MISMATCH, UPLOAD_INTERRUPTED.
 */
export class PublishError extends SwarmlaneError {}
