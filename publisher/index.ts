// Public surface of publisher/: the publish pipeline and release verification used by the CLI.
export * from './errors.ts';
export * from './options.ts';
export * from './progress.ts';
export * from './publish.ts';
export * from './verify-release.ts';
