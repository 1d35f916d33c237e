import type { ObjectStore } from '../release/index.ts';
import { StoreError } from '../release/index.ts';
import type { HttpClient } from '../runtime/index.ts';
import { EdgeError } from './errors.ts';

/**
 * Where an edge pulls bytes it does not have: the object store itself (ranged GET) or an upstream CDN
 * (HTTP Range through the runtime HttpClient, so the lab can route it over the simulated network).
 * `null` from `readObject` means the key does not exist; anything else failing is ORIGIN_UNAVAILABLE.
 */
export interface Origin {
  readonly description: string;
  /** Inclusive byte range of `key`. */
  readRange(key: string, start: number, end: number): Promise<Uint8Array>;
  readObject(key: string): Promise<Uint8Array | null>;
}

export function createStoreOrigin(store: ObjectStore): Origin {
  return {
    description: store.url,
    async readRange(key, start, end) {
      try {
        return await store.get(key, { start, end });
      } catch (error) {
        throw new EdgeError(
          'ORIGIN_UNAVAILABLE',
          `origin read of ${key} failed: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
    },
    async readObject(key) {
      try {
        return await store.get(key);
      } catch (error) {
        if (error instanceof StoreError && error.code === 'NOT_FOUND') return null;
        if ((error as { code?: string }).code === 'NOT_FOUND') return null;
        throw new EdgeError(
          'ORIGIN_UNAVAILABLE',
          `origin read of ${key} failed: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
    },
  };
}

/** Upstream CDN at `baseUrl`: key `k` lives at `<baseUrl>/<k>`. */
export function createHttpOrigin(baseUrl: string, components: { http: HttpClient }): Origin {
  const base = baseUrl.replace(/\/+$/, '');
  const urlOf = (key: string): string => `${base}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const fail = (key: string, why: string, cause?: unknown): EdgeError =>
    new EdgeError('ORIGIN_UNAVAILABLE', `upstream ${base} for ${key}: ${why}`, { cause });
  return {
    description: base,
    async readRange(key, start, end) {
      let response: Awaited<ReturnType<HttpClient['request']>>;
      try {
        response = await components.http.request({
          method: 'GET',
          url: urlOf(key),
          headers: { range: `bytes=${start}-${end}` },
        });
      } catch (error) {
        throw fail(key, (error as Error).message, error);
      }
      if (response.status === 206) return response.body;
      // A server that ignores Range answers 200 with the whole object: take our slice of it.
      if (response.status === 200) return response.body.slice(start, end + 1);
      throw fail(key, `HTTP ${response.status}`);
    },
    async readObject(key) {
      let response: Awaited<ReturnType<HttpClient['request']>>;
      try {
        response = await components.http.request({ method: 'GET', url: urlOf(key) });
      } catch (error) {
        throw fail(key, (error as Error).message, error);
      }
      if (response.status === 404) return null;
      if (response.status !== 200) throw fail(key, `HTTP ${response.status}`);
      return response.body;
    },
  };
}
