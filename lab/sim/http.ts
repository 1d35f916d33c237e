import { gunzipSync, inflateSync } from 'node:zlib';
import {
  type HttpClient,
  HttpClientError,
  type HttpRequest,
  type HttpResponse,
} from '../../runtime/index.ts';
import type { FlowScheduler } from './flows.ts';
import type { LinkDirection } from './link.ts';
import type { Network } from './network.ts';
import type { SimNode } from './node.ts';
import type { Scheduler } from './scheduler.ts';
import type { TraceHash } from './trace.ts';

/** Trace event kind for a completed HTTP exchange (packet kinds are 0-9). */
const TRACE_HTTP = 20;

/** The part of a fastify instance the channel uses: the real app runs unchanged via inject. */
export interface InjectableApp {
  inject(options: {
    method: string;
    url: string;
    headers?: Record<string, string>;
    payload?: string | Buffer;
    remoteAddress?: string;
    /** Asked for so that binary bodies are not also decoded into a string (light-my-request does that). */
    payloadAsStream?: boolean;
  }): Promise<{
    statusCode: number;
    headers: Record<string, string | string[] | number | undefined>;
    stream(): NodeJS.ReadableStream;
  }>;
}

/** A plain request handler, for small built-in servers (UPnP description/SOAP). */
export type HttpHandler = (
  request: HttpRequest & { path: string; remoteAddress: string },
) => HttpResponse | Promise<HttpResponse>;

export type HttpServerApp = InjectableApp | HttpHandler;

export interface HttpChannelOptions {
  /** Time after which an unreachable server fails the request (virtual ms). Default 10 000. */
  connectTimeoutMs?: number;
  /** Idle time a connection stays warm (no new handshake). Default 5 000. */
  keepAliveMs?: number;
  /** TCP segment size used for the loss-limited rate (Mathis). Default 1460. */
  mss?: number;
}

interface Route {
  server: SimNode;
  lan: boolean;
  /** Client -> server links, and back. */
  up: LinkDirection[];
  down: LinkDirection[];
  upMs: number;
  downMs: number;
  lossP: number;
  /** The client's address as the server sees it (after NATs). */
  remoteAddress: string;
}

/**
 * HTTP over the simulated network at message level: a TCP(+TLS) handshake costs round trips, the
 * request and response bodies are fluid flows sharing link bandwidth max-min fairly with other HTTP
 * flows, each capped by the Mathis loss-limited TCP rate on lossy paths, and the server is the real
 * app driven by `inject` while virtual time holds still. Flows do not compete with UDP packets for
 * queue space (a deliberate simplification; their bytes are counted on the links).
 */
export class HttpChannel {
  private readonly servers = new Map<string, HttpServerApp>();
  private readonly dns = new Map<string, string>();
  private readonly warm = new Map<string, number>();
  /** Request sequence numbers, assigned in virtual event order. */
  private nextSeq = 0;
  /** Responses whose app call finished, waiting to start their transfer in request order. */
  private ready: Array<{ seq: number; start: () => void }> = [];
  private releaseScheduled = false;
  private readonly connectTimeoutMs: number;
  private readonly keepAliveMs: number;
  private readonly mss: number;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly flows: FlowScheduler,
    private readonly network: Network,
    private readonly trace: TraceHash | undefined,
    options: HttpChannelOptions = {},
  ) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.keepAliveMs = options.keepAliveMs ?? 5_000;
    this.mss = options.mss ?? 1460;
  }

  setDns(name: string, address: string): void {
    this.dns.set(name.toLowerCase(), address);
  }

  serve(node: SimNode, port: number, app: HttpServerApp, lan: boolean): () => void {
    const key = serverKey(node, port, lan);
    if (this.servers.has(key)) throw new Error(`${node.name} already serves HTTP on port ${port}`);
    this.servers.set(key, app);
    return () => {
      if (this.servers.get(key) === app) this.servers.delete(key);
    };
  }

  clientFor(node: SimNode): HttpClient {
    return { request: (request) => this.request(node, request) };
  }

  private async request(client: SimNode, request: HttpRequest): Promise<HttpResponse> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch (error) {
      throw new HttpClientError(request.url, error);
    }
    client.counters.httpRequests++;
    const name = url.hostname.toLowerCase();
    const ip = /^\d+\.\d+\.\d+\.\d+$/.test(name) ? name : this.dns.get(name);
    if (ip === undefined) throw new HttpClientError(request.url, new Error(`getaddrinfo ENOTFOUND ${name}`));
    const tls = url.protocol === 'https:';
    const port = url.port !== '' ? Number(url.port) : tls ? 443 : 80;
    const found = this.route(client, ip);
    // A path with a link down behaves like no path at all: the SYN goes nowhere.
    const route = found && [...found.up, ...found.down].some((l) => l.down) ? undefined : found;
    const app = route ? this.servers.get(serverKey(route.server, port, route.lan)) : undefined;
    const signal = request.signal;
    signal?.throwIfAborted();

    const rtt = route ? route.upMs + route.downMs : 0;
    if (route === undefined || app === undefined) {
      // Unroutable: the SYN goes nowhere until the timeout; routable but closed: RST after one RTT.
      const wait = route === undefined ? this.connectTimeoutMs : rtt;
      await this.wait(wait, signal);
      const why =
        route === undefined ? `connect ETIMEDOUT ${ip}:${port}` : `connect ECONNREFUSED ${ip}:${port}`;
      throw new HttpClientError(request.url, new Error(why));
    }
    const warmKey = `${client.id}>${ip}:${port}`;
    const lastUsed = this.warm.get(warmKey);
    if (lastUsed === undefined || this.scheduler.now - lastUsed > this.keepAliveMs) {
      await this.wait(rtt * (tls ? 2 : 1), signal);
    }

    const body = typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
    const path = url.pathname + url.search;
    // Like fetch (undici), the client offers gzip unless told otherwise and hands back the decoded body;
    // the network carries the encoded bytes.
    const headers: Record<string, string> = {
      host: url.host,
      'accept-encoding': 'gzip, deflate',
      ...request.headers,
    };
    if (body !== undefined && body.length > 0) headers['content-length'] = String(body.length);
    const requestBytes = headBytes(`${request.method} ${path} HTTP/1.1`, headers) + (body?.length ?? 0);
    const cap = this.tcpCap(route);
    await this.transfer(route.up, requestBytes, cap, signal);
    await this.wait(route.upMs, signal);
    client.counters.httpTxBytes += requestBytes;
    route.server.counters.httpRxBytes += requestBytes;
    this.network.notify({ from: client, to: route.server, bytes: requestBytes, protocol: 'http' });

    const seq = this.nextSeq++;
    const response = await this.scheduler.hold(this.invoke(app, request.method, path, headers, body, route));
    await this.inRequestOrder(seq);
    const responseBytes =
      headBytes(`HTTP/1.1 ${response.status}`, response.headers) +
      (request.method === 'HEAD' ? 0 : response.body.length);
    await this.transfer(route.down, responseBytes, cap, signal);
    await this.wait(route.downMs, signal);
    route.server.counters.httpTxBytes += responseBytes;
    client.counters.httpRxBytes += responseBytes;
    this.network.notify({ from: route.server, to: client, bytes: responseBytes, protocol: 'http' });
    this.account(route.server, client, responseBytes);
    this.account(client, route.server, requestBytes);
    this.trace?.record(
      this.scheduler.now,
      TRACE_HTTP,
      client.id,
      route.server.id,
      requestBytes + responseBytes,
    );
    this.warm.set(warmKey, this.scheduler.now);
    this.scheduler.userCodeRan = true;
    return decoded(request.url, response);
  }

  private async invoke(
    app: HttpServerApp,
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    route: Route,
  ): Promise<HttpResponse> {
    if (typeof app === 'function') {
      return app({
        method: method as HttpRequest['method'],
        url: path,
        path,
        headers,
        body,
        remoteAddress: route.remoteAddress,
      });
    }
    const res = await app.inject({
      method,
      url: path,
      headers,
      payload: body === undefined ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
      remoteAddress: route.remoteAddress,
      payloadAsStream: true,
    });
    const chunks: Buffer[] = [];
    for await (const chunk of res.stream())
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    return {
      status: res.statusCode,
      headers: out,
      body: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
    };
  }

  private account(from: SimNode, to: SimNode, bytes: number): void {
    const key = (from.ispIndex & 0xffff) * 65536 + (to.ispIndex & 0xffff);
    this.network.ispMatrix.set(key, (this.network.ispMatrix.get(key) ?? 0) + bytes);
  }

  /** Mathis et al.: a TCP flow on a path with loss p cannot exceed MSS/RTT x 1.22/sqrt(p). */
  private tcpCap(route: Route): number {
    if (route.lossP <= 0) return Infinity;
    const rtt = Math.max(1, route.upMs + route.downMs);
    return (this.mss / rtt) * (1.22 / Math.sqrt(route.lossP));
  }

  private transfer(links: LinkDirection[], bytes: number, cap: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.flows.cancel(flow);
        reject(signal?.reason);
      };
      const flow = this.flows.start(
        links,
        bytes,
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        cap,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * App calls finish in wall-clock order (real I/O, inject's own turns), which may differ from run to
   * run. Responses ready at the same virtual instant therefore start their transfers from one zero-delay
   * event, sorted by request sequence, so bandwidth sharing never depends on wall-clock timing.
   */
  private inRequestOrder(seq: number): Promise<void> {
    return new Promise((resolve) => {
      this.ready.push({ seq, start: resolve });
      if (this.releaseScheduled) return;
      this.releaseScheduled = true;
      this.scheduler.schedule(
        0,
        () => {
          const batch = this.ready.sort((a, b) => a.seq - b.seq);
          this.ready = [];
          this.releaseScheduled = false;
          this.scheduler.userCodeRan = true;
          for (const r of batch) r.start();
        },
        undefined,
      );
    });
  }

  private wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const event = this.scheduler.schedule(
        ms,
        () => {
          signal?.removeEventListener('abort', onAbort);
          this.scheduler.userCodeRan = true;
          resolve();
        },
        undefined,
      );
      const onAbort = (): void => {
        this.scheduler.cancel(event);
        this.scheduler.userCodeRan = true;
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Finds the server for `ip` as the client would reach it: first in the client's own realm, then
   * in each enclosing realm outwards through its NATs. Servers behind a NAT are not reachable from
   * outside (no HTTP port forwarding is modelled).
   */
  private route(client: SimNode, ip: string): Route | undefined {
    let realm = client.realm;
    let remoteAddress = client.address;
    for (;;) {
      const target = realm.addresses.get(ip);
      if (target !== undefined) {
        const lan = target.inner !== undefined && target.lanAddress === ip;
        if (target.nat !== undefined && !lan) return undefined;
        return { server: target, lan, ...this.path(client, target), remoteAddress };
      }
      const root = realm.root;
      if (root.nat === undefined || root.parent === undefined) return undefined;
      remoteAddress = root.nat.externalIpFor(remoteAddress);
      realm = root.realm;
    }
  }

  private path(client: SimNode, server: SimNode): Pick<Route, 'up' | 'down' | 'upMs' | 'downMs' | 'lossP'> {
    const clientSide: SimNode[] = [];
    const serverSide: SimNode[] = [];
    let a: SimNode = client;
    let b: SimNode = server;
    while (a.depth > b.depth) {
      clientSide.push(a);
      a = a.parent!;
    }
    while (b.depth > a.depth) {
      serverSide.push(b);
      b = b.parent!;
    }
    while (a !== b) {
      clientSide.push(a);
      a = a.parent!;
      serverSide.push(b);
      b = b.parent!;
    }
    const up = [...clientSide.map((n) => n.up!), ...serverSide.map((n) => n.down!).reverse()];
    const down = [...serverSide.map((n) => n.up!), ...clientSide.map((n) => n.down!).reverse()];
    let keep = 1;
    for (const l of [...up, ...down]) keep *= 1 - l.meanLoss;
    return { up, down, upMs: sumDelay(up), downMs: sumDelay(down), lossP: 1 - keep };
  }
}

function sumDelay(links: LinkDirection[]): number {
  let ms = 0;
  for (const l of links) ms += l.delayMs;
  return ms;
}

function serverKey(node: SimNode, port: number, lan: boolean): string {
  return `${node.id}:${lan ? 'lan' : 'wan'}:${port}`;
}

/** Bytes of a request/status line plus headers, as HTTP/1.1 puts them on the wire. */
function headBytes(firstLine: string, headers: Record<string, string>): number {
  let n = firstLine.length + 2;
  for (const [k, v] of Object.entries(headers)) n += k.length + 2 + String(v).length + 2;
  return n + 2;
}

/** The response as fetch returns it: a gzip or deflate body decoded (headers kept, as fetch keeps them). */
function decoded(url: string, response: HttpResponse): HttpResponse {
  const encoding = response.headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== 'gzip' && encoding !== 'deflate') return response;
  let raw: Buffer;
  try {
    raw = encoding === 'gzip' ? gunzipSync(response.body) : inflateSync(response.body);
  } catch (error) {
    throw new HttpClientError(url, error);
  }
  return { ...response, body: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) };
}
