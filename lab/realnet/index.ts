export * from './delayline.ts';
export * from './errors.ts';
export * from './link.ts';
