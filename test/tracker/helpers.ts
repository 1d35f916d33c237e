import type { ReachabilityReport } from '../../nat/report.ts';
import { type Clock, createSeededRandom, createSilentLogger, type TimerHandle } from '../../runtime/index.ts';
import type { AnnounceRequest } from '../../tracker/api-schema.ts';
import { buildTracker } from '../../tracker/app.ts';
import { createStaticCatalogue, type ReleaseInfo } from '../../tracker/catalogue.ts';
import { createMemorySwarmStore } from '../../tracker/memory-store.ts';
import type { TrackerOptions } from '../../tracker/options.ts';
import { createPrefixTable, parsePrefixCsv } from '../../tracker/prefixes.ts';
import type { SwarmStore } from '../../tracker/swarm-store.ts';

/** A clock tests move by hand. */
export function createManualClock(start = 1_700_000_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; cb: () => void }>();
  return {
    now: () => now,
    setTimer(delayMs, cb): TimerHandle {
      const id = nextId++;
      timers.set(id, { at: now + delayMs, cb });
      return { id };
    },
    clearTimer(handle) {
      timers.delete(handle.id);
    },
    advance(ms) {
      now += ms;
      for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now) {
          timers.delete(id);
          t.cb();
        }
      }
    },
  };
}

export const RELEASE: ReleaseInfo = {
  id: 'acme-fw@1.2.0',
  product: 'acme-fw',
  channel: 'stable',
  version: '1.2.0',
  infoHash: 'aa'.repeat(20),
  pieceCount: 40,
  manifestKey: 'releases/acme-fw/1.2.0/manifest.json',
  objectKey: 'releases/acme-fw/1.2.0/firmware.bin',
};

export const OTHER_RELEASE: ReleaseInfo = {
  ...RELEASE,
  id: 'other@2.0.0',
  product: 'other',
  version: '2.0.0',
  infoHash: 'bb'.repeat(20),
  manifestKey: 'releases/other/2.0.0/manifest.json',
  objectKey: 'releases/other/2.0.0/firmware.bin',
};

/** Two ISPs in two regions: 10.1/16 isp-a eu, 10.2/16 isp-a us, 10.3/16 isp-b eu, 10.4/16 isp-b us. */
export const PREFIX_CSV = `cidr,asn,isp,region
10.1.0.0/16,64501,isp-a,eu
10.2.0.0/16,64501,isp-a,us
10.3.0.0/16,64502,isp-b,eu
10.4.0.0/16,64502,isp-b,us
`;

export const OPEN: ReachabilityReport = {
  public: true,
  mapping: 'none',
  filtering: 'none',
  reflexive: null,
  portMapping: null,
  lan: [],
  hairpin: null,
  errors: [],
};
export const PUNCHABLE: ReachabilityReport = {
  ...OPEN,
  public: false,
  mapping: 'endpoint-independent',
  filtering: 'address-and-port-dependent',
};
export const HARD: ReachabilityReport = {
  ...OPEN,
  public: false,
  mapping: 'address-and-port-dependent',
  filtering: 'address-and-port-dependent',
};

export const KEY = Buffer.alloc(32, 7).toString('base64');

export function announceBody(deviceId: string, overrides: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return {
    deviceId,
    release: RELEASE.id,
    port: 4000,
    progress: { have: 0 },
    reachability: OPEN,
    candidates: [{ type: 'host', host: '192.168.1.20', port: 4000 }],
    publicKey: KEY,
    ...overrides,
  };
}

export function makeTracker(
  options: Partial<TrackerOptions> = {},
  extra: { store?: SwarmStore; clock?: ReturnType<typeof createManualClock>; seed?: number } = {},
) {
  const clock = extra.clock ?? createManualClock();
  const random = createSeededRandom(extra.seed ?? 1);
  const swarmStore = extra.store ?? createMemorySwarmStore({ random, now: clock.now });
  const tracker = buildTracker(
    { prefixes: createPrefixTable(parsePrefixCsv(PREFIX_CSV)), rateLimit: null, ...options },
    {
      clock,
      random,
      logger: createSilentLogger(),
      swarmStore,
      catalogue: createStaticCatalogue([RELEASE, OTHER_RELEASE]),
    },
  );
  return { ...tracker, clock, swarmStore };
}
