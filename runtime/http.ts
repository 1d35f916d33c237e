/**
 * Minimal HTTP client seam: tracker calls and CDN range requests go through it, so the lab can route
 * them over the simulated network while production uses fetch.
 */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface HttpClient {
  request(request: HttpRequest): Promise<HttpResponse>;
}

export class HttpClientError extends Error {
  readonly code = 'HTTP_UNREACHABLE';
  constructor(url: string, cause: unknown) {
    super(`cannot reach ${url}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'HttpClientError';
  }
}
