import { bundleScript, cleanupStaleNamespaces, createNetnsLab, type NetnsLab } from '../netns/index.ts';
import type { Scenario } from '../scenario/schema.ts';
import { CDN_URL, TRACKER_URL } from './infra.ts';
import { prepareRealRelease, type RealRelease } from './release.ts';

/** A real-kernel lab run's fixed start: a clean namespace lab, the published release, bundled scripts. */
export interface RealnetSession {
  lab: NetnsLab;
  /** Tears the lab down and drops the signal hooks; call it in `finally`. */
  close(): Promise<void>;
}

/**
 * Sweeps namespaces a killed run left behind, then opens a lab whose teardown also runs on Ctrl-C or
 * SIGTERM (the registry sweep covers a SIGKILL).
 */
export async function openRealnetSession(): Promise<RealnetSession> {
  await cleanupStaleNamespaces();
  const lab = await createNetnsLab();
  const onSignal = (signal: NodeJS.Signals) => {
    void lab.teardown().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    lab,
    async close() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await lab.teardown();
    },
  };
}

/** Publishes the scenario's release into `workDir` and bundles the CLI and device scripts beside it. */
export async function prepareRealnetArtifacts(
  scenario: Scenario,
  workDir: string,
): Promise<{ release: RealRelease; cli: string; device: string }> {
  const release = await prepareRealRelease({
    dir: workDir,
    size: scenario.release.size,
    pieceSize: scenario.release.pieceSize,
    seed: scenario.seed,
    trackerUrl: TRACKER_URL,
    cdnUrl: CDN_URL,
  });
  const [cli, device] = await Promise.all([
    bundleScript('cli/main.ts'),
    bundleScript('lab/realnet/agents/device.ts'),
  ]);
  return { release, cli, device };
}
