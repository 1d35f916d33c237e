import { SwarmlaneError } from '../../runtime/errors.ts';

/** Failures of the real-kernel lab (building links, starting processes, collecting results). */
export class RealnetError extends SwarmlaneError {}
