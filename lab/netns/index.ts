export * from './bundle.ts';
export * from './nat-topology.ts';
export * from './netns.ts';
