import cliProgress from 'cli-progress';
import type { Clock } from '../runtime/index.ts';
import type { PublishProgress } from './publish.ts';

export interface ProgressBar {
  update(bytes: number, total: number, label?: string): void;
  stop(): void;
}

/** A byte progress bar on stderr when it is a terminal; a no-op otherwise (CI logs, --json, pipes). */
export function createProgressBar(enabled: boolean, clock: Clock): ProgressBar {
  if (!enabled || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{label} [{bar}] {percentage}% | {doneMiB}/{totalMiB} MiB | {speed} MiB/s',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let startedAt = 0;
  return {
    update(bytes, total, label = 'publish') {
      const mib = (n: number): string => (n / 1048576).toFixed(1);
      if (!started) {
        started = true;
        startedAt = clock.now();
        bar.start(total, 0, { label, doneMiB: '0.0', totalMiB: mib(total), speed: '0' });
      }
      const seconds = Math.max((clock.now() - startedAt) / 1000, 0.001);
      bar.update(bytes, { label, doneMiB: mib(bytes), totalMiB: mib(total), speed: mib(bytes / seconds) });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Adapts publish progress events to one bar whose label follows the phase. */
export function createPublisherProgress(
  enabled: boolean,
  clock: Clock,
): { onProgress: (p: PublishProgress) => void; stop: () => void } {
  const bar = createProgressBar(enabled, clock);
  return {
    onProgress: (p) => bar.update(p.bytes, p.total, p.phase === 'hash' ? 'compare' : 'publish'),
    stop: () => bar.stop(),
  };
}
