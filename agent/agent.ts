import { copyFile } from 'node:fs/promises';
import type { TrustedKeys } from '../release/index.ts';
import type { Clock, HttpClient, Logger, Random, UdpNetwork } from '../runtime/index.ts';
import type { AgentConfig } from './config.ts';
import { type DownloadJob, fileSha256, openDownloadJob } from './download-job.ts';
import type { EngineOptions } from './engine/download.ts';
import { AgentError } from './errors.ts';
import { checkRelease } from './release-check.ts';
import { createCdnSource } from './sources/cdn.ts';
import { type AgentStateStore, openAgentState } from './storage/agent-state.ts';
import { loadTrustedKeys } from './trust.ts';
import type { BytesBySource } from './types.ts';

/** What the outside world hands the agent. The CLI builds real ones, the lab simulated ones. */
export interface AgentComponents {
  clock: Clock;
  random: Random;
  logger: Logger;
  http: HttpClient;
  udp?: UdpNetwork;
  /** Overrides config.trust (the lab passes KeyObjects it generated). */
  trusted?: TrustedKeys;
}

export interface FetchTarget {
  product: string;
  channel: string;
}

export interface FetchOptions {
  /** Copy the verified file here when done. */
  out?: string;
  /** Called once the download is open (the CLI hooks its progress bar here). */
  onJob?: (job: DownloadJob) => void;
}

export interface FetchSummary {
  product: string;
  channel: string;
  version: string;
  path: string;
  out: string | undefined;
  size: number;
  sha256: string;
  bytesBySource: BytesBySource;
  /** Bytes taken from this run's sources (excludes pieces already on disk). */
  downloadedBytes: number;
  resumedPieces: number;
  pieces: number;
  completionMs: number;
  failures: number;
}

export interface Agent {
  readonly config: AgentConfig;
  fetch(target: FetchTarget, options?: FetchOptions): Promise<FetchSummary>;
  pause(): void;
  resume(): void;
  stop(reason?: string): Promise<void>;
  deviceId(): string | undefined;
}

/** Maps the validated policy onto engine tuning. */
export function engineOptionsFromConfig(config: AgentConfig): Partial<EngineOptions> {
  return {
    infrastructureShareCap: config.policy.infrastructureShareCap,
    peerRateFloorBps: config.policy.peerRateFloorBps,
    peerRateFloorMs: config.policy.peerRateFloorSeconds * 1000,
    stallTimeoutMs: config.policy.stallTimeoutSeconds * 1000,
  };
}

export function createAgent(config: AgentConfig, components: AgentComponents): Agent {
  const { clock, logger, http } = components;
  let state: AgentStateStore | undefined;
  let trusted: TrustedKeys | undefined = components.trusted;
  const jobs = new Set<DownloadJob>();
  let paused = false;

  const init = async (): Promise<{ state: AgentStateStore; trusted: TrustedKeys }> => {
    trusted ??= loadTrustedKeys(config.trust.keys, config.trust.threshold);
    state ??= await openAgentState(config.stateDir, components, config.deviceId);
    return { state, trusted };
  };

  return {
    config,
    deviceId: () => state?.get().deviceId,
    async fetch(target, options = {}) {
      const { state, trusted } = await init();
      const started = clock.now();
      const release = await checkRelease(target, {
        http,
        clock,
        logger,
        trusted,
        state,
        baseUrls: config.cdn,
      });
      const { manifest } = release;
      const job = await openDownloadJob(
        release,
        { stateDir: config.stateDir, engine: engineOptionsFromConfig(config) },
        components,
      );
      jobs.add(job);
      options.onJob?.(job);
      if (paused) job.engine.pause();
      try {
        for (const baseUrl of config.cdn)
          job.engine.addSource(
            createCdnSource({ baseUrl, objectKey: manifest.object, layout: manifest }, { http }),
          );
        await job.engine.run();
        await job.flush();
        const sha256 = await fileSha256(job.path);
        if (sha256 !== manifest.sha256)
          throw new AgentError(
            'RELEASE_REFUSED',
            `assembled file hashes to ${sha256}, manifest says ${manifest.sha256}`,
          );
        if (options.out) await copyFile(job.path, options.out);
        const progress = job.engine.progress();
        const downloaded = Object.values(progress.bytesBySource).reduce((a, b) => a + b, 0);
        return {
          product: manifest.product,
          channel: target.channel,
          version: manifest.version,
          path: job.path,
          out: options.out,
          size: manifest.size,
          sha256,
          bytesBySource: { ...job.state.bytesBySource },
          downloadedBytes: downloaded,
          resumedPieces: job.resumedPieces,
          pieces: manifest.pieces.length,
          completionMs: clock.now() - started,
          failures: job.state.failures,
        };
      } finally {
        jobs.delete(job);
        await job.close();
      }
    },
    pause() {
      paused = true;
      for (const job of jobs) job.engine.pause();
    },
    resume() {
      paused = false;
      for (const job of jobs) job.engine.resume();
    },
    async stop(reason = 'agent stopped') {
      for (const job of jobs) job.engine.stop(reason);
    },
  };
}
