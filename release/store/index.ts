import { StoreError } from '../errors.ts';
import { createFileStore } from './file.ts';
import { createS3Store } from './s3.ts';
import type { ObjectStore, OpenStoreOptions } from './types.ts';

export { createFileStore } from './file.ts';
export { PullBody, type ReadInto } from './pull-body.ts';
export { createS3Store } from './s3.ts';
export type { ByteRange, ObjectStore, OpenStoreOptions, PutOptions } from './types.ts';

/** Opens `file:///dir` or `s3://bucket/prefix`. */
export function openStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  if (url.startsWith('file://')) return createFileStore(url);
  if (url.startsWith('s3://')) return createS3Store(url, options);
  throw new StoreError(
    'INVALID_STORE_URL',
    `unsupported store URL ${url} (use file:///dir or s3://bucket/prefix)`,
  );
}
