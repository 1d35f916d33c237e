import type { HttpClient } from '../../runtime/index.ts';
import { SwarmlaneError } from '../../runtime/index.ts';
import type {
  AnnounceRequest,
  AnnounceResponse,
  CurrentReleaseResponse,
  ReportRequest,
} from '../../tracker/index.ts';

export class TrackerClientError extends SwarmlaneError {}

/** The tracker's JSON API (`/v1/...`) through the runtime HttpClient. */
export interface TrackerClient {
  announce(request: AnnounceRequest, signal?: AbortSignal): Promise<AnnounceResponse>;
  current(product: string, channel: string, deviceId: string): Promise<CurrentReleaseResponse>;
  report(request: ReportRequest): Promise<void>;
  /** The tracker's rendezvous/STUN UDP endpoint (on the tracker's host). */
  rendezvous(): Promise<{ port: number; publicKey: string }>;
}

export function createTrackerClient(baseUrl: string, components: { http: HttpClient }): TrackerClient {
  const base = baseUrl.replace(/\/+$/, '');
  const call = async <T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<T> => {
    const response = await components.http.request({
      method,
      url: `${base}${path}`,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      ...(signal ? { signal } : {}),
    });
    const text = new TextDecoder().decode(response.body);
    if (response.status >= 300) {
      let code = `HTTP_${response.status}`;
      let message = text.slice(0, 200);
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = parsed.error?.code ?? code;
        message = parsed.error?.message ?? message;
      } catch {
        // not JSON: keep the raw text
      }
      throw new TrackerClientError(code, `tracker ${path}: ${message}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return {
    announce: (request, signal) => call<AnnounceResponse>('POST', '/v1/announce', request, signal),
    current: (product, channel, deviceId) =>
      call<CurrentReleaseResponse>(
        'GET',
        `/v1/products/${encodeURIComponent(product)}/channels/${encodeURIComponent(channel)}/current?device=${encodeURIComponent(deviceId)}`,
      ),
    rendezvous: () => call<{ port: number; publicKey: string }>('GET', '/v1/rendezvous'),
    report: async (request) => {
      await call<unknown>('POST', '/v1/report', request);
    },
  };
}
