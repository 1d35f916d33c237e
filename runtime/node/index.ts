export * from './clock.ts';
export * from './env.ts';
export * from './http.ts';
export * from './logger.ts';
export * from './random.ts';
export * from './tcp.ts';
export * from './udp.ts';
