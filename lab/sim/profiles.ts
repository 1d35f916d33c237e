import { burstyLoss, type LinkOptions } from './link.ts';

/**
 * PacketZoom's per-country mobile measurements (FACTS.md, papers 000/001): share of sessions that
 * disconnect, packet loss, and connection latency in ms.
 */
export const COUNTRY_MEASUREMENTS = {
  Argentina: { disconnects: 0.091, loss: 0.022, latencyMs: 812 },
  Australia: { disconnects: 0.062, loss: 0.021, latencyMs: 367 },
  Brazil: { disconnects: 0.1, loss: 0.03, latencyMs: 413 },
  Canada: { disconnects: 0.05, loss: 0.011, latencyMs: 410 },
  Chile: { disconnects: 0.092, loss: 0.016, latencyMs: 460 },
  China: { disconnects: 0.095, loss: 0.055, latencyMs: 464 },
  France: { disconnects: 0.067, loss: 0.011, latencyMs: 293 },
  Germany: { disconnects: 0.119, loss: 0.018, latencyMs: 395 },
  India: { disconnects: 0.073, loss: 0.015, latencyMs: 806 },
  Indonesia: { disconnects: 0.121, loss: 0.025, latencyMs: 663 },
  Japan: { disconnects: 0.035, loss: 0.022, latencyMs: 375 },
  Malaysia: { disconnects: 0.099, loss: 0.032, latencyMs: 463 },
  Mexico: { disconnects: 0.08, loss: 0.016, latencyMs: 414 },
  Netherlands: { disconnects: 0.042, loss: 0.018, latencyMs: 206 },
  Russia: { disconnects: 0.133, loss: 0.022, latencyMs: 370 },
  'South Korea': { disconnects: 0.064, loss: 0.03, latencyMs: 508 },
  Spain: { disconnects: 0.065, loss: 0.013, latencyMs: 352 },
  Taiwan: { disconnects: 0.05, loss: 0.03, latencyMs: 298 },
  'United Kingdom': { disconnects: 0.052, loss: 0.013, latencyMs: 231 },
  'United States': { disconnects: 0.056, loss: 0.013, latencyMs: 458 },
} as const;

export type CountryName = keyof typeof COUNTRY_MEASUREMENTS;

export interface CountryProfileOptions {
  /** Downlink rate, bits/s; default 10 Mbit/s. */
  downBps?: number;
  /** Uplink rate, bits/s; default 2 Mbit/s. */
  upBps?: number;
  /** Share of the measured latency placed on this access link (the rest is up to the lab); default 1. */
  lastMileShare?: number;
  /** Gilbert-Elliott bursts with this mean length (packets) instead of uniform loss; default uniform. */
  burstPackets?: number;
  /** Per-packet jitter in ms; default 5 % of the one-way delay. */
  jitterMs?: number;
}

export const profiles = {
  /**
   * A mobile access link for a country: the measured latency becomes the link's round trip (half
   * each way, times `lastMileShare`), the measured loss applies in each direction.
   */
  country(name: CountryName | string, options: CountryProfileOptions = {}): LinkOptions {
    const m = (COUNTRY_MEASUREMENTS as Record<string, { loss: number; latencyMs: number }>)[name];
    if (m === undefined) {
      throw new RangeError(
        `unknown country profile "${name}" (known: ${Object.keys(COUNTRY_MEASUREMENTS).join(', ')})`,
      );
    }
    const oneWay = (m.latencyMs / 2) * (options.lastMileShare ?? 1);
    const loss = options.burstPackets !== undefined ? burstyLoss(m.loss, options.burstPackets) : m.loss;
    const jitterMs = options.jitterMs ?? oneWay * 0.05;
    return {
      delayMs: oneWay,
      jitterMs,
      loss,
      up: { bandwidthBps: options.upBps ?? 2e6 },
      down: { bandwidthBps: options.downBps ?? 10e6 },
    };
  },
  /** Home broadband: 50/10 Mbit/s, 10 ms each way, no loss. */
  broadband(options: { downBps?: number; upBps?: number; delayMs?: number } = {}): LinkOptions {
    return {
      delayMs: options.delayMs ?? 10,
      up: { bandwidthBps: options.upBps ?? 10e6 },
      down: { bandwidthBps: options.downBps ?? 50e6 },
    };
  },
  /** A Wi-Fi LAN hop: 100 Mbit/s, 1 ms, 0.1 % loss. */
  wifi(): LinkOptions {
    return { bandwidthBps: 100e6, delayMs: 1, loss: 0.001 };
  },
  /** A datacenter uplink for servers: 1 Gbit/s, 1 ms. */
  datacenter(options: { bandwidthBps?: number } = {}): LinkOptions {
    return { bandwidthBps: options.bandwidthBps ?? 1e9, delayMs: 1 };
  },
};
