import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Clock, Logger, Random } from '../runtime/index.ts';
import type { ReleaseCatalogue } from './catalogue.ts';
import type { EdgeRegistry } from './edges.ts';
import { TrackerError } from './errors.ts';
import type { TrackerMetrics } from './metrics.ts';
import type { TrackerOptions } from './options.ts';
import type { RolloutManager } from './rollout.ts';
import type { SwarmStore } from './swarm-store.ts';

export interface TrackerComponents {
  clock: Clock;
  random: Random;
  logger: Logger;
  swarmStore: SwarmStore;
  /** Releases known to the tracker (from the store's signed channel pointers in production). */
  catalogue: ReleaseCatalogue;
}

/** Everything route handlers share. */
export interface TrackerContext extends TrackerComponents {
  options: TrackerOptions;
  edges: EdgeRegistry;
  rollout: RolloutManager;
  metrics: TrackerMetrics;
}

export const agentSwarm = (releaseId: string) => `rel:${releaseId}`;
export const btSwarm = (infoHash: string) => `bt:${infoHash}`;

/** SHA-256 hex of a device token (the one-shot `hash` skips a Hash object per announce). */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Checks `Authorization: Bearer <token>`; a null expected token means the API is switched off. */
export function requireBearer(request: FastifyRequest, expected: string | null, what: string): void {
  if (expected === null) throw new TrackerError('UNAUTHORIZED', `${what} is disabled: no token configured`);
  const header = request.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match || !safeEqual(match[1] as string, expected))
    throw new TrackerError('UNAUTHORIZED', `${what} needs a valid bearer token`);
}

/**
 * Device id ownership: the first announce of an id binds it to a token the tracker issues (stored
 * hashed); later requests must repeat it. Another device claiming the id is refused.
 */
export async function authenticateDevice(
  ctx: TrackerContext,
  deviceId: string,
  token: string | undefined,
): Promise<{ issuedToken?: string; release?: () => Promise<void> }> {
  if (token !== undefined) {
    const result = await ctx.swarmStore.claimDevice(deviceId, hashToken(token));
    if (result === 'mismatch')
      throw new TrackerError('DEVICE_ID_TAKEN', `device id ${deviceId} belongs to another device`);
    return {};
  }
  const issued = Buffer.from(ctx.random.bytes(24)).toString('base64url');
  const result = await ctx.swarmStore.claimDevice(deviceId, hashToken(issued));
  if (result !== 'created')
    throw new TrackerError('DEVICE_ID_TAKEN', `device id ${deviceId} belongs to another device`);
  return { issuedToken: issued, release: () => ctx.swarmStore.releaseDevice(deviceId, hashToken(issued)) };
}
