import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Whether the device is on Wi-Fi (unmetered) and on external power. Unknown fields count as true. */
export interface DeviceConditions {
  wifi: boolean;
  power: boolean;
}

/** Where device conditions come from: a file, a command, or the lab (which injects its own). */
export interface DeviceStateProvider {
  get(): Promise<DeviceConditions>;
}

export function staticDeviceState(
  conditions: DeviceConditions = { wifi: true, power: true },
): DeviceStateProvider & {
  set(next: Partial<DeviceConditions>): void;
} {
  let current = { ...conditions };
  return {
    get: async () => current,
    set(next) {
      current = { ...current, ...next };
    },
  };
}

function parseConditions(text: string): DeviceConditions {
  const value = JSON.parse(text) as { wifi?: unknown; power?: unknown; charging?: unknown };
  return {
    wifi: value.wifi !== false,
    power: value.power !== false && value.charging !== false,
  };
}

/** Reads `{ "wifi": bool, "power": bool }` from a file each time (a missing file means "unknown": allowed). */
export function fileDeviceState(path: string): DeviceStateProvider {
  return {
    async get() {
      try {
        return parseConditions(await readFile(path, 'utf8'));
      } catch {
        return { wifi: true, power: true };
      }
    },
  };
}

/** Runs a command (via sh -c) that prints the same JSON; a failing command means "not allowed". */
export function commandDeviceState(command: string): DeviceStateProvider {
  return {
    get: () =>
      new Promise((resolve) => {
        execFile('/bin/sh', ['-c', command], { timeout: 5000 }, (error, stdout) => {
          if (error) {
            resolve({ wifi: false, power: false });
            return;
          }
          try {
            resolve(parseConditions(stdout));
          } catch {
            resolve({ wifi: false, power: false });
          }
        });
      }),
  };
}

export function deviceStateFromConfig(config: {
  provider: 'none' | 'file' | 'command';
  path?: string;
  command?: string;
}): DeviceStateProvider {
  if (config.provider === 'file' && config.path) return fileDeviceState(config.path);
  if (config.provider === 'command' && config.command) return commandDeviceState(config.command);
  return staticDeviceState();
}
