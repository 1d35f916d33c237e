import { createPublicKey, type KeyObject } from 'node:crypto';
import { createTrustedKeys, loadPublicKey, type TrustedKeys } from '../release/index.ts';
import { AgentError } from './errors.ts';

/** Builds the verifier's trusted key set from config entries (PEM file paths or inline PEM). */
export function loadTrustedKeys(entries: readonly string[], threshold: number): TrustedKeys {
  const keys: KeyObject[] = entries.map((entry) => {
    try {
      return entry.includes('-----BEGIN') ? createPublicKey(entry) : loadPublicKey(entry, 'ed25519');
    } catch (error) {
      throw new AgentError(
        'CONFIG_INVALID',
        `trusted key ${entry.slice(0, 80)}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  });
  try {
    return createTrustedKeys(keys, threshold);
  } catch (error) {
    throw new AgentError('CONFIG_INVALID', `trust: ${(error as Error).message}`, { cause: error });
  }
}
