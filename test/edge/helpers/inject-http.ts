import type { FastifyInstance } from 'fastify';
import type { HttpClient } from '../../../runtime/index.ts';

/** An HttpClient that answers from a fastify app through inject (no sockets). */
export function injectHttp(app: FastifyInstance): HttpClient {
  return {
    async request(req) {
      const url = new URL(req.url);
      const res = await app.inject({
        method: req.method,
        url: url.pathname + url.search,
        headers: req.headers,
        ...(req.body !== undefined
          ? { payload: typeof req.body === 'string' ? req.body : Buffer.from(req.body) }
          : {}),
      });
      return {
        status: res.statusCode,
        headers: res.headers as Record<string, string>,
        body: new Uint8Array(res.rawPayload),
      };
    },
  };
}
