import { StoreError } from '../errors.ts';

/** Store keys are relative, '/'-separated, with no empty, '.' or '..' segments. */
export function checkKey(key: string): string {
  const segments = key.split('/');
  if (key.length === 0 || key.length > 1024 || segments.some((s) => s === '' || s === '.' || s === '..'))
    throw new StoreError('INVALID_KEY', `invalid store key "${key}"`);
  return key;
}
