import { type BillingReport, createCdn } from '../../edge/index.ts';
import { openStore } from '../../release/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { createNodeClock } from '../../runtime/node/index.ts';

/** The real lab CDN (edge/) on 127.0.0.1 in front of a file store; no metadata caching so tests can rewrite pointers. */
export async function startCdn(
  storeUrl: string,
  options: { rateBytesPerSecond?: number } = {},
): Promise<{ url: string; close(): Promise<void>; billing(): BillingReport }> {
  const cdn = createCdn(
    { cacheBytes: 64 * 1024 * 1024, metadataTtlMs: 0, ...options },
    { store: openStore(storeUrl), clock: createNodeClock(), logger: createSilentLogger() },
  );
  const url = await cdn.app.listen({ host: '127.0.0.1', port: 0 });
  return { url, close: () => cdn.app.close(), billing: () => cdn.billing() };
}
