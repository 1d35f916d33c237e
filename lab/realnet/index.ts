export * from './delayline.ts';
export * from './errors.ts';
export * from './infra.ts';
export * from './link.ts';
export * from './release.ts';
export * from './run.ts';
export * from './thesis.ts';
export * from './topology.ts';
