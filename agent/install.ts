import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { compareSemver, ReleaseVerifyError, type TrustedKeys, verifyManifest } from '../release/index.ts';
import type { Clock } from '../runtime/index.ts';
import { AgentError } from './errors.ts';
import type { VerifiedRelease } from './release-check.ts';
import type { AgentStateStore } from './storage/agent-state.ts';
import type { AgentStorage } from './storage/storage.ts';

/** Runs the install hook; injectable so the lab can simulate installs without processes. */
export type HookRunner = (
  hook: string,
  env: Record<string, string>,
  timeoutMs: number,
) => Promise<{ code: number; output: string }>;

export const shellHookRunner: HookRunner = (hook, env, timeoutMs) =>
  new Promise((resolve) => {
    // spawn's own timeout kills a hung hook: it is an outside process, so its deadline is real time.
    const child = spawn('/bin/sh', ['-c', hook], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (error) => resolve({ code: 127, output: error.message }));
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });

export interface InstallResult {
  outcome: 'installed' | 'install-failed' | 'already-installed';
  detail?: string;
}

/**
 * Installs a downloaded release: the whole file must hash to the manifest, the manifest must still
 * verify (signatures, expiry, pinned hash), and the version must be newer than what is installed.
 * Only then runs the hook with the file path and release metadata in its environment.
 */
export async function installRelease(
  release: VerifiedRelease,
  filePath: string,
  options: { hook: string | undefined; timeoutSeconds: number },
  components: {
    clock: Clock;
    trusted: TrustedKeys;
    state: AgentStateStore;
    storage: AgentStorage;
    runHook?: HookRunner;
  },
): Promise<InstallResult> {
  const { manifest } = release;
  try {
    verifyManifest(release.manifestBytes, components.trusted, {
      now: components.clock.now(),
      expectedSha256: release.manifestSha256,
      product: manifest.product,
      version: manifest.version,
    });
  } catch (error) {
    if (error instanceof ReleaseVerifyError)
      throw new AgentError(
        'INSTALL_REFUSED',
        `manifest no longer verifies: ${error.message} (${error.code})`,
      );
    throw error;
  }
  const sha256 = await components.storage.sha256(filePath);
  if (sha256 !== manifest.sha256)
    throw new AgentError('INSTALL_REFUSED', `file hashes to ${sha256}, manifest says ${manifest.sha256}`);
  const installed = components.state.get().installed[manifest.product];
  if (installed !== undefined) {
    const order = compareSemver(manifest.version, installed);
    if (order === 0) return { outcome: 'already-installed' };
    if (order < 0)
      throw new AgentError('INSTALL_REFUSED', `${manifest.version} is older than installed ${installed}`);
  }
  if (options.hook) {
    const manifestPath = join(filePath, '..', 'manifest.json');
    await components.storage.writeAtomic(manifestPath, release.manifestBytes);
    const env = {
      SWARMLANE_FILE: filePath,
      SWARMLANE_PRODUCT: manifest.product,
      SWARMLANE_VERSION: manifest.version,
      SWARMLANE_CHANNEL: release.channel.channel,
      SWARMLANE_SHA256: manifest.sha256,
      SWARMLANE_SIZE: String(manifest.size),
      SWARMLANE_MANIFEST: manifestPath,
      SWARMLANE_PREVIOUS_VERSION: installed ?? '',
    };
    const result = await (components.runHook ?? shellHookRunner)(
      options.hook,
      env,
      options.timeoutSeconds * 1000,
    );
    if (result.code !== 0)
      return {
        outcome: 'install-failed',
        detail: `hook exited ${result.code}: ${result.output.trim().slice(-200)}`,
      };
  }
  await components.state.update((s) => {
    s.installed[manifest.product] = manifest.version;
  });
  return { outcome: 'installed' };
}
