/**
 * Per-client and per-release byte accounting: the lab's stand-in for an S3/CDN billing report, so a
 * flash-crowd run can say how many bytes the operator paid for. Bytes are counted as the response body
 * is handed to the socket (an aborted response counts what was written before the abort).
 */
export interface BillingCounters {
  bytes: number;
  requests: number;
}

export interface BillingReport {
  schema: 'swarmlane.cdn-billing/1';
  /** ISO times of the first counted request window. */
  since: string;
  generated: string;
  totalBytes: number;
  totalRequests: number;
  clients: Record<string, BillingCounters>;
  releases: Record<string, BillingCounters>;
  keys: Record<string, BillingCounters>;
  status: Record<string, number>;
}

export interface Billing {
  /** Counts a request (call once per request, with its status). */
  request(client: string, key: string, status: number): void;
  /** Counts body bytes sent for a request. */
  bytes(client: string, key: string, count: number): void;
  report(): BillingReport;
}

/** `releases/<product>/<version>/...` -> `product@version`; other keys are grouped by their first segment. */
export function releaseOfKey(key: string): string {
  const parts = key.split('/');
  if (parts[0] === 'releases' && parts.length >= 4) return `${parts[1]}@${parts[2]}`;
  return parts.length > 1 ? `${parts[0]}/` : '(other)';
}

export function createBilling(components: { now: () => number }): Billing {
  const since = components.now();
  const clients = new Map<string, BillingCounters>();
  const releases = new Map<string, BillingCounters>();
  const keys = new Map<string, BillingCounters>();
  const status = new Map<string, number>();
  let totalBytes = 0;
  let totalRequests = 0;
  const counter = (map: Map<string, BillingCounters>, name: string): BillingCounters => {
    let c = map.get(name);
    if (!c) {
      c = { bytes: 0, requests: 0 };
      map.set(name, c);
    }
    return c;
  };
  const sorted = (map: Map<string, BillingCounters>): Record<string, BillingCounters> =>
    Object.fromEntries(
      [...map.entries()].sort((a, b) => b[1].bytes - a[1].bytes).map(([k, v]) => [k, { ...v }]),
    );
  return {
    request(client, key, code) {
      totalRequests++;
      counter(clients, client).requests++;
      counter(releases, releaseOfKey(key)).requests++;
      counter(keys, key).requests++;
      status.set(String(code), (status.get(String(code)) ?? 0) + 1);
    },
    bytes(client, key, count) {
      totalBytes += count;
      counter(clients, client).bytes += count;
      counter(releases, releaseOfKey(key)).bytes += count;
      counter(keys, key).bytes += count;
    },
    report() {
      return {
        schema: 'swarmlane.cdn-billing/1',
        since: new Date(since).toISOString(),
        generated: new Date(components.now()).toISOString(),
        totalBytes,
        totalRequests,
        clients: sorted(clients),
        releases: sorted(releases),
        keys: sorted(keys),
        status: Object.fromEntries(status),
      };
    },
  };
}
