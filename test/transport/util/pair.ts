import { createSeededRandom, createSilentLogger } from '../../../runtime/index.ts';
import { createEndpoint, type Endpoint, type EndpointOptions } from '../../../transport/index.ts';
import { createVirtualNet, type LinkSpec, type VirtualHost, type VirtualNet } from './virtual-net.ts';

export interface Pair {
  net: VirtualNet;
  serverHost: VirtualHost;
  clientHost: VirtualHost;
  server: Endpoint;
  client: Endpoint;
}

export interface PairOptions {
  seed?: number;
  serverLink?: LinkSpec;
  clientLink?: LinkSpec;
  server?: Partial<EndpointOptions>;
  client?: Partial<EndpointOptions>;
}

/** Two endpoints on a virtual network: server at 10.0.0.1:4433, client at 10.0.0.2. */
export async function createPair(options: PairOptions = {}): Promise<Pair> {
  const seed = options.seed ?? 1;
  const net = createVirtualNet(seed);
  const random = createSeededRandom(seed + 1000);
  const serverHost = net.host('10.0.0.1', options.serverLink ?? {});
  const clientHost = net.host('10.0.0.2', options.clientLink ?? {});
  const logger = createSilentLogger();
  const server = createEndpoint(
    { staticPrivateKey: random.bytes(32), ...options.server },
    { socket: await serverHost.udp.bind({ port: 4433 }), clock: net.clock, random, logger },
  );
  const client = createEndpoint(
    { staticPrivateKey: random.bytes(32), ...options.client },
    { socket: await clientHost.udp.bind(), clock: net.clock, random, logger },
  );
  return { net, serverHost, clientHost, server, client };
}

export function patternBytes(length: number, seed = 7): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
