export * from './nat-topology.ts';
export * from './netns.ts';
