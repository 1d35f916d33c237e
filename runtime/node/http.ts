import { type HttpClient, HttpClientError } from '../http.ts';

/** fetch (undici) behind the HttpClient seam. */
export function createNodeHttpClient(): HttpClient {
  return {
    async request(request) {
      let response: Response;
      try {
        response = await fetch(request.url, {
          method: request.method,
          headers: request.headers,
          body: request.body,
          signal: request.signal,
        });
      } catch (error) {
        throw new HttpClientError(request.url, error);
      }
      const headers: Record<string, string> = {};
      response.headers.forEach((value, key) => {
        headers[key] = value;
      });
      const body = new Uint8Array(await response.arrayBuffer());
      return { status: response.status, headers, body };
    },
  };
}
