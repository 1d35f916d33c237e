// Public surface of agent/: the device agent factory, its config, and the engine pieces the lab reuses.
export * from './agent.ts';
export * from './config.ts';
export * from './device-state.ts';
export * from './download-job.ts';
export * from './engine/bitfield.ts';
export * from './engine/download.ts';
export * from './engine/layout.ts';
export * from './errors.ts';
export * from './install.ts';
export * from './release-check.ts';
export * from './seeding.ts';
export * from './sources/cdn.ts';
export * from './storage/piece-store.ts';
export * from './storage/storage.ts';
export * from './types.ts';
