export * from './channel.ts';
export * from './classify.ts';
export * from './errors.ts';
export * from './ip.ts';
export * from './report.ts';
export * from './stun/client.ts';
export * from './stun/codec.ts';
export * from './stun/server.ts';
