// Public surface of release/: the signed release format, keys, verification, pieces, torrents and
// object stores. Other components import only from here.
import './formats.ts';

export * from './canonical.ts';
export * from './current.ts';
export * from './envelope.ts';
export * from './errors.ts';
export * from './hashing.ts';
export * from './hex.ts';
export * from './keys.ts';
export * from './pieces.ts';
export * from './schema.ts';
export * from './semver.ts';
export * from './store/index.ts';
export * from './torrent.ts';
export * from './verify.ts';
