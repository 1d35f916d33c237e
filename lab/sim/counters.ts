/** Why a simulated packet did not arrive. Every drop is counted under exactly one cause. */
export type DropCause =
  | 'loss'
  | 'queue'
  | 'mtu'
  | 'nat-filter'
  | 'mapping-expired'
  | 'nat-exhausted'
  | 'hairpin'
  | 'no-route'
  | 'no-listener'
  | 'link-down';

export const DROP_CAUSES: readonly DropCause[] = [
  'loss',
  'queue',
  'mtu',
  'nat-filter',
  'mapping-expired',
  'nat-exhausted',
  'hairpin',
  'no-route',
  'no-listener',
  'link-down',
];

export type DropCounters = Record<DropCause, number>;

export function emptyDrops(): DropCounters {
  return {
    loss: 0,
    queue: 0,
    mtu: 0,
    'nat-filter': 0,
    'mapping-expired': 0,
    'nat-exhausted': 0,
    hairpin: 0,
    'no-route': 0,
    'no-listener': 0,
    'link-down': 0,
  };
}

/**
 * Per host (or server/gateway). UDP counts are payload bytes (add 28 per packet for IPv4+UDP headers);
 * HTTP counts are request/response bytes including the HTTP head.
 */
export interface HostCounters {
  udpTxPackets: number;
  udpTxBytes: number;
  udpRxPackets: number;
  udpRxBytes: number;
  httpTxBytes: number;
  httpRxBytes: number;
  httpRequests: number;
  /** Packets this host sent that were dropped somewhere, by cause. */
  dropped: DropCounters;
}

export function emptyHostCounters(): HostCounters {
  return {
    udpTxPackets: 0,
    udpTxBytes: 0,
    udpRxPackets: 0,
    udpRxBytes: 0,
    httpTxBytes: 0,
    httpRxBytes: 0,
    httpRequests: 0,
    dropped: emptyDrops(),
  };
}

/** One direction of a link. */
export interface LinkCounters {
  /** Packets/bytes offered to the link (UDP payload bytes). */
  packets: number;
  bytes: number;
  /** Packets/bytes that left the far end. */
  deliveredPackets: number;
  deliveredBytes: number;
  duplicated: number;
  reordered: number;
  /** HTTP-channel bytes carried (fluid flows, not packets). */
  httpBytes: number;
  dropped: DropCounters;
}

export function emptyLinkCounters(): LinkCounters {
  return {
    packets: 0,
    bytes: 0,
    deliveredPackets: 0,
    deliveredBytes: 0,
    duplicated: 0,
    reordered: 0,
    httpBytes: 0,
    dropped: emptyDrops(),
  };
}
