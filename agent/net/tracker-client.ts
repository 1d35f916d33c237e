import type { HttpClient } from '../../runtime/index.ts';
import { SwarmlaneError } from '../../runtime/index.ts';
import type {
  AnnounceRequest,
  AnnounceResponse,
  CurrentJoinRequest,
  CurrentJoinResponse,
  CurrentReleaseResponse,
  ReportRequest,
} from '../../tracker/index.ts';

export class TrackerClientError extends SwarmlaneError {}

/** The tracker's JSON API (`/v1/...`) through the runtime HttpClient. */
export interface TrackerClient {
  announce(request: AnnounceRequest, signal?: AbortSignal): Promise<AnnounceResponse>;
  current(product: string, channel: string, deviceId: string): Promise<CurrentReleaseResponse>;
  /**
   * The current release and, in the same round trip, the device's first announce into its swarm
   * (CurrentJoinRequest). A tracker from before this call (404/405) is asked the plain way.
   */
  currentAndJoin(product: string, channel: string, request: CurrentJoinRequest): Promise<CurrentJoinResponse>;
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
  const currentPath = (product: string, channel: string) =>
    `/v1/products/${encodeURIComponent(product)}/channels/${encodeURIComponent(channel)}/current`;
  const current = (product: string, channel: string, deviceId: string) =>
    call<CurrentReleaseResponse>(
      'GET',
      `${currentPath(product, channel)}?device=${encodeURIComponent(deviceId)}`,
    );
  return {
    announce: (request, signal) => call<AnnounceResponse>('POST', '/v1/announce', request, signal),
    current,
    async currentAndJoin(product, channel, request) {
      try {
        return await call<CurrentJoinResponse>('POST', currentPath(product, channel), request);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code !== 'HTTP_404' && code !== 'HTTP_405' && code !== 'NOT_FOUND') throw error;
        return current(product, channel, request.deviceId);
      }
    },
    rendezvous: () => call<{ port: number; publicKey: string }>('GET', '/v1/rendezvous'),
    report: async (request) => {
      await call<unknown>('POST', '/v1/report', request);
    },
  };
}
