import { createHash } from 'node:crypto';
import type { Clock } from '../runtime/index.ts';
import type { RolloutStartRequest, RolloutStatus } from './api-schema.ts';
import { TrackerError } from './errors.ts';
import type { SwarmStore } from './swarm-store.ts';

/**
 * Staged rollout (hawkBit-style). A device's place in the fleet is a deterministic percentage from
 * hash(release, device id), so every tracker instance agrees without per-device state; wave `i` covers
 * devices below `waves[i]` percent. Install failures counted per wave halt the rollout automatically
 * when both the count and the rate thresholds are passed in the current wave. The state document and
 * counters live in the swarm store so instances agree.
 */

export interface RolloutDefaults {
  waves: number[];
  failureCount: number;
  failureRate: number;
}

export const DEFAULT_ROLLOUT: RolloutDefaults = {
  waves: [1, 10, 50, 100],
  failureCount: 5,
  failureRate: 0.2,
};

interface RolloutDocument {
  release: string;
  waves: number[];
  wave: number;
  state: RolloutStatus['state'];
  reason: string | null;
  failureCount: number;
  failureRate: number;
  updatedAt: number;
}

/** Percentage in [0, 100) of a device within a release's rollout. */
export function devicePercent(deviceId: string, release: string): number {
  const digest = createHash('sha256').update(`${release}\n${deviceId}`).digest();
  return (digest.readUInt32BE(0) / 0x1_0000_0000) * 100;
}

export function waveOf(percent: number, waves: readonly number[]): number {
  const index = waves.findIndex((limit) => percent < limit);
  return index === -1 ? waves.length - 1 : index;
}

export interface RolloutManager {
  status(product: string, channel: string, release: string): Promise<RolloutStatus>;
  isEligible(product: string, channel: string, release: string, deviceId: string): Promise<boolean>;
  start(
    product: string,
    channel: string,
    release: string,
    request: RolloutStartRequest,
  ): Promise<RolloutStatus>;
  advance(product: string, channel: string, release: string): Promise<RolloutStatus>;
  pause(product: string, channel: string, release: string): Promise<RolloutStatus>;
  resume(product: string, channel: string, release: string): Promise<RolloutStatus>;
  /** Counts an install outcome; may halt the rollout. */
  recordOutcome(
    product: string,
    channel: string,
    release: string,
    deviceId: string,
    ok: boolean,
  ): Promise<void>;
}

const docKey = (product: string, channel: string) => `rollout:${product}/${channel}`;
const counterKey = (release: string) => `rollout-outcomes:${release}`;

function toStatus(doc: RolloutDocument): RolloutStatus {
  return {
    release: doc.release,
    waves: doc.waves,
    wave: doc.wave,
    percent: doc.waves[doc.wave] ?? 100,
    state: doc.state,
    reason: doc.reason,
  };
}

/** No rollout started for the current release: everyone gets it (the operator opted out of waves). */
function openStatus(release: string): RolloutStatus {
  return { release, waves: [100], wave: 0, percent: 100, state: 'complete', reason: null };
}

export function createRolloutManager(
  defaults: RolloutDefaults,
  store: SwarmStore,
  clock: Clock,
): RolloutManager {
  const load = async (product: string, channel: string, release: string) => {
    const doc = await store.getDocument<RolloutDocument>(docKey(product, channel));
    return doc && doc.value.release === release ? doc : null;
  };

  /** Read-modify-write with optimistic concurrency, retried when another instance got there first. */
  const update = async (
    product: string,
    channel: string,
    release: string,
    change: (doc: RolloutDocument) => RolloutDocument | null,
  ): Promise<RolloutStatus> => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const current = await load(product, channel, release);
      if (!current) throw new TrackerError('ROLLOUT_UNKNOWN', `no rollout started for ${release}`);
      const next = change(current.value);
      if (next === null) return toStatus(current.value);
      if (await store.putDocument(docKey(product, channel), next, current.version)) return toStatus(next);
    }
    throw new TrackerError('ROLLOUT_CONFLICT', `rollout of ${release} is being changed concurrently; retry`);
  };

  return {
    async status(product, channel, release) {
      const doc = await load(product, channel, release);
      return doc ? toStatus(doc.value) : openStatus(release);
    },
    async isEligible(product, channel, release, deviceId) {
      const doc = await load(product, channel, release);
      if (!doc) return true;
      const { state, waves, wave } = doc.value;
      if (state === 'paused' || state === 'halted') return false;
      if (state === 'complete') return true;
      return devicePercent(deviceId, release) < (waves[wave] ?? 100);
    },
    async start(product, channel, release, request) {
      const waves = request.waves ?? defaults.waves;
      if (waves.some((w, i) => i > 0 && w <= (waves[i - 1] as number)) || waves[waves.length - 1] !== 100)
        throw new TrackerError('BAD_REQUEST', 'waves must be strictly increasing percentages ending at 100');
      const doc: RolloutDocument = {
        release,
        waves,
        wave: 0,
        state: 'running',
        reason: null,
        failureCount: request.failureCount ?? defaults.failureCount,
        failureRate: request.failureRate ?? defaults.failureRate,
        updatedAt: clock.now(),
      };
      const existing = await store.getDocument<RolloutDocument>(docKey(product, channel));
      if (existing?.value.release === release)
        throw new TrackerError('ROLLOUT_CONFLICT', `rollout of ${release} already started`);
      if (!(await store.putDocument(docKey(product, channel), doc, existing?.version ?? null)))
        throw new TrackerError(
          'ROLLOUT_CONFLICT',
          `rollout of ${release} is being changed concurrently; retry`,
        );
      return toStatus(doc);
    },
    advance(product, channel, release) {
      return update(product, channel, release, (doc) => {
        if (doc.state === 'halted')
          throw new TrackerError('ROLLOUT_CONFLICT', `rollout of ${release} is halted; resume it first`);
        const wave = Math.min(doc.wave + 1, doc.waves.length - 1);
        const state = wave === doc.waves.length - 1 ? 'complete' : doc.state;
        return { ...doc, wave, state, updatedAt: clock.now() };
      });
    },
    pause(product, channel, release) {
      return update(product, channel, release, (doc) =>
        doc.state === 'running'
          ? { ...doc, state: 'paused', reason: 'paused by operator', updatedAt: clock.now() }
          : null,
      );
    },
    resume(product, channel, release) {
      return update(product, channel, release, (doc) =>
        doc.state === 'paused' || doc.state === 'halted'
          ? {
              ...doc,
              state: doc.wave === doc.waves.length - 1 ? 'complete' : 'running',
              reason: null,
              updatedAt: clock.now(),
            }
          : null,
      );
    },
    async recordOutcome(product, channel, release, deviceId, ok) {
      const doc = await load(product, channel, release);
      if (!doc) return;
      const wave = waveOf(devicePercent(deviceId, release), doc.value.waves);
      await store.addCounters(counterKey(release), { [`w${wave}:${ok ? 'ok' : 'fail'}`]: 1 });
      if (ok || doc.value.state !== 'running' || wave !== doc.value.wave) return;
      const counts = await store.getCounters(counterKey(release));
      const failures = counts[`w${wave}:fail`] ?? 0;
      const total = failures + (counts[`w${wave}:ok`] ?? 0);
      if (failures >= doc.value.failureCount && failures / total >= doc.value.failureRate) {
        await update(product, channel, release, (d) =>
          d.state === 'running'
            ? {
                ...d,
                state: 'halted',
                reason: `auto-halt: ${failures} of ${total} installs failed in wave ${wave}`,
                updatedAt: clock.now(),
              }
            : null,
        );
      }
    },
  };
}
