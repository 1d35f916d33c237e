/**
 * Base class for every error swarmlane raises on purpose. `code` is stable (machines match on it);
 * `message` is one line a person can act on.
 */
export class SwarmlaneError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
