import type { CgnSpec, DeviceGroup, IspSpec, LinkSpec, Policies, Scenario } from './schema.ts';

/** Defaults for every optional scenario field, in one place. */
export const DEFAULT_LINK: LinkSpec = { downMbps: 50, upMbps: 10, delayMs: 20, loss: 0 };

export const DEFAULT_CGN: CgnSpec = {
  mapping: 'endpoint-independent',
  hairpin: true,
  pcp: false,
  portBlock: 2048,
};

export const DEFAULT_ISP: Omit<IspSpec, 'name' | 'region' | 'asn'> = { cgnShare: 0, cgn: DEFAULT_CGN };

export const DEFAULT_DEVICE_GROUP: Omit<DeviceGroup, 'count' | 'isp'> = {
  nat: 'port-restricted',
  portMapping: false,
  perHome: 1,
  openPort: false,
  link: DEFAULT_LINK,
  wifi: true,
  charging: true,
  peerCongestion: 'adaptive',
};

/** Thesis and Windows Delivery Optimization anchors (FACTS.md): seed a while, not forever. */
export const DEFAULT_POLICIES: Policies = {
  seedRatio: 3,
  seedSeconds: 1800,
  uploadOnlyOnWifiAndPower: true,
  infrastructureShareCap: 1,
};

export const DEFAULT_SCENARIO: Omit<Scenario, 'name' | 'isps' | 'devices'> = {
  description: '',
  seed: 1,
  release: { size: 64 * 1024 * 1024, pieceSize: 256 * 1024 },
  arrival: { kind: 'all-at-once' },
  churn: { leaveAfterInstall: 0, leaveMidDownload: 0, rejoinAfterSeconds: null },
  cdn: { capacityMbps: 1000, region: 'eu' },
  edges: [],
  policies: DEFAULT_POLICIES,
  deadlineSeconds: 3600,
};
