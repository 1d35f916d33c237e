import type { Clock, TimerHandle } from '../runtime/index.ts';
import type { AgentPolicy } from './config.ts';
import type { DeviceConditions, DeviceStateProvider } from './device-state.ts';

export type SeedStopReason = 'ratio' | 'time' | 'installed' | 'left-wifi' | 'left-power' | 'shutdown';

/**
 * The seeding policy of one release. Uploading (during download and after) is allowed only while the
 * device conditions allow it (Wi-Fi / power when so configured). After completion, seeding stops at the
 * first configured limit: upload ratio, seeding time, install finished — or when the device leaves
 * Wi-Fi / power. Device state is polled from the provider; the decision itself is synchronous.
 */
export interface SeedingController {
  uploadAllowed(): boolean;
  /** Call when the download completed; starts the after-completion limits. */
  completed(): void;
  installed(): void;
  /** Resolves with the reason seeding stopped (only after completed()). */
  stopped(): Promise<SeedStopReason>;
  stop(reason: SeedStopReason): void;
  close(): void;
  conditions(): DeviceConditions;
}

export function createSeedingController(
  policy: Pick<AgentPolicy, 'seedRatio' | 'seedSeconds' | 'seedUntilInstall' | 'wifiOnly' | 'powerOnly'>,
  components: {
    clock: Clock;
    deviceState: DeviceStateProvider;
    uploaded: () => number;
    size: number;
    /** How often device state and limits are checked. */
    pollMs?: number;
    onChange?: () => void;
  },
): SeedingController {
  const { clock } = components;
  const pollMs = components.pollMs ?? 5000;
  let conditions: DeviceConditions = { wifi: true, power: true };
  let completedAt: number | undefined;
  let uploadedAtCompletion = 0;
  let installed = false;
  let stopReason: SeedStopReason | undefined;
  let timer: TimerHandle | undefined;
  let resolveStop: ((r: SeedStopReason) => void) | undefined;
  const stopPromise = new Promise<SeedStopReason>((resolve) => {
    resolveStop = resolve;
  });

  const conditionsAllow = (): boolean =>
    (!policy.wifiOnly || conditions.wifi) && (!policy.powerOnly || conditions.power);

  const stop = (reason: SeedStopReason): void => {
    if (stopReason) return;
    stopReason = reason;
    if (timer) clock.clearTimer(timer);
    timer = undefined;
    components.onChange?.();
    resolveStop?.(reason);
  };

  const evaluate = (): void => {
    if (completedAt === undefined || stopReason) return;
    const reason = stopReasonNow();
    if (reason) stop(reason);
  };

  const stopReasonNow = (): SeedStopReason | undefined => {
    if (completedAt === undefined) return undefined;
    if (policy.wifiOnly && !conditions.wifi) return 'left-wifi';
    if (policy.powerOnly && !conditions.power) return 'left-power';
    // The ratio counts uploads over the whole life of the download (BitTorrent's share ratio).
    if (policy.seedRatio !== null && components.uploaded() >= policy.seedRatio * components.size)
      return 'ratio';
    if (policy.seedSeconds !== null && clock.now() - completedAt >= policy.seedSeconds * 1000) return 'time';
    if (policy.seedUntilInstall && installed) return 'installed';
    return undefined;
  };

  const poll = (): void => {
    timer = undefined;
    void components.deviceState.get().then((next) => {
      const before = conditionsAllow();
      conditions = next;
      if (before !== conditionsAllow()) components.onChange?.();
      evaluate();
      if (!stopReason) timer = clock.setTimer(pollMs, poll);
    });
  };
  poll();

  return {
    uploadAllowed: () => !stopReason && conditionsAllow(),
    completed() {
      if (completedAt !== undefined) return;
      completedAt = clock.now();
      uploadedAtCompletion = components.uploaded();
      void uploadedAtCompletion;
      evaluate();
    },
    installed() {
      installed = true;
      evaluate();
    },
    stopped: () => stopPromise,
    stop,
    close() {
      if (timer) clock.clearTimer(timer);
      timer = undefined;
    },
    conditions: () => conditions,
  };
}
