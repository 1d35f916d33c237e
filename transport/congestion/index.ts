export { type BbrOptions, createBbr } from './bbr.ts';
export * from './controller.ts';
export { createRateHistory, type RateHistory, type RateHistoryOptions } from './history.ts';
export { createNewReno } from './newreno.ts';
