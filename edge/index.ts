export * from './cdn/app.ts';
export * from './cdn/billing.ts';
export * from './cdn/object-cache.ts';
export * from './cdn/range.ts';
export * from './config.ts';
export * from './errors.ts';
export * from './token-bucket.ts';
