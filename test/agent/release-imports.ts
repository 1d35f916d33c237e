import { createPrivateKey, type KeyObject } from 'node:crypto';

export * from '../../release/index.ts';

export function createPrivateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}
