/**
 * PCP (RFC 6887), UDP to the server's port 5351; IPv4 addresses travel IPv4-mapped (::ffff:a.b.c.d).
 *
 * Request header (24): version=2 | R=0,opcode | reserved (16) | lifetime (32) | client IP (128)
 * Response header (24): version=2 | R=1,opcode | reserved (8) | result (8) | lifetime (32) | epoch (32)
 *                       | reserved (96)
 * MAP payload (36, request and response): nonce (96) | protocol (8) | reserved (24) | internal port (16)
 *                       | external port (16) | external IP (128)
 * ANNOUNCE (opcode 0) has no payload. A MAP with lifetime 0 and the same nonce deletes the mapping.
 */
import type { Address } from '../../runtime/index.ts';
import { NatDecodeError, NatError } from '../errors.ts';
import { formatIPv4, parseIPv4 } from '../ip.ts';
import type { MappingClient, PortMapComponents, PortMapping } from './types.ts';
import { createGatewayExchange } from './udp-transaction.ts';

export const PCP_PORT = 5351;
const VERSION = 2;
export const PcpOpcode = { announce: 0, map: 1 } as const;

const RESULTS = [
  'SUCCESS',
  'UNSUPP_VERSION',
  'NOT_AUTHORIZED',
  'MALFORMED_REQUEST',
  'UNSUPP_OPCODE',
  'UNSUPP_OPTION',
  'MALFORMED_OPTION',
  'NETWORK_FAILURE',
  'NO_RESOURCES',
  'UNSUPP_PROTOCOL',
  'USER_EX_QUOTA',
  'CANNOT_PROVIDE_EXTERNAL',
  'ADDRESS_MISMATCH',
  'EXCESSIVE_REMOTE_PEERS',
];

function writeMappedIPv4(out: Uint8Array, offset: number, host: string): void {
  const ip = parseIPv4(host);
  if (!ip) throw new RangeError(`PCP: not an IPv4 address: "${host}"`);
  out[offset + 10] = 0xff;
  out[offset + 11] = 0xff;
  out.set(ip, offset + 12);
}

function readMappedIPv4(bytes: Uint8Array, offset: number): string {
  for (let i = 0; i < 10; i++) if (bytes[offset + i] !== 0) return '::'; // IPv6: not for us
  if (bytes[offset + 10] !== 0xff || bytes[offset + 11] !== 0xff) return '::';
  return formatIPv4(bytes, offset + 12);
}

export interface PcpMapRequest {
  nonce: Uint8Array;
  clientHost: string;
  lifetimeSec: number;
  internalPort: number;
  suggestedExternal?: Address;
}

export function encodePcpAnnounce(clientHost: string): Uint8Array {
  const out = new Uint8Array(24);
  out[0] = VERSION;
  out[1] = PcpOpcode.announce;
  writeMappedIPv4(out, 8, clientHost);
  return out;
}

export function encodePcpMap(request: PcpMapRequest): Uint8Array {
  if (request.nonce.length !== 12) throw new RangeError('PCP nonce must be 12 bytes');
  const out = new Uint8Array(60);
  const view = new DataView(out.buffer);
  out[0] = VERSION;
  out[1] = PcpOpcode.map;
  view.setUint32(4, request.lifetimeSec);
  writeMappedIPv4(out, 8, request.clientHost);
  out.set(request.nonce, 24);
  out[36] = 17; // UDP
  view.setUint16(40, request.internalPort);
  view.setUint16(42, request.suggestedExternal?.port ?? 0);
  writeMappedIPv4(out, 44, request.suggestedExternal?.host ?? '0.0.0.0');
  return out;
}

export interface PcpResponse {
  opcode: number;
  result: number;
  resultName: string;
  lifetimeSec: number;
  epoch: number;
  map?: { nonce: Uint8Array; protocol: number; internalPort: number; external: Address };
}

/** Decodes a PCP response; throws NatDecodeError for anything else (requests, NAT-PMP, garbage). */
export function decodePcpResponse(bytes: Uint8Array): PcpResponse {
  if (bytes.length < 24) throw new NatDecodeError('PCP response', 'shorter than 24 bytes');
  if (bytes.length > 1100 || bytes.length % 4 !== 0)
    throw new NatDecodeError('PCP response', 'length is not a multiple of 4 up to 1100');
  if (bytes[0] !== VERSION) throw new NatDecodeError('PCP response', `version ${bytes[0]}`);
  if ((bytes[1]! & 0x80) === 0) throw new NatDecodeError('PCP response', 'is a request');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const opcode = bytes[1]! & 0x7f;
  const result = bytes[3]!;
  const response: PcpResponse = {
    opcode,
    result,
    resultName: RESULTS[result] ?? `result ${result}`,
    lifetimeSec: view.getUint32(4),
    epoch: view.getUint32(8),
  };
  if (opcode === PcpOpcode.map && result === 0) {
    if (bytes.length < 60) throw new NatDecodeError('PCP MAP response', 'payload too short');
    response.map = {
      nonce: bytes.slice(24, 36),
      protocol: bytes[36]!,
      internalPort: view.getUint16(40),
      external: { host: readMappedIPv4(bytes, 44), port: view.getUint16(42) },
    };
  }
  return response;
}

export interface PcpOptions {
  /** The PCP server: the default gateway, or a CGN's PCP server further up. */
  server: string;
  /** Our address as the server sees it (PCP rejects a mismatch with ADDRESS_MISMATCH). */
  internalHost: string;
  timeoutMs?: number;
}

function refused(what: string, response: PcpResponse): NatError {
  return new NatError('PCP_REFUSED', `PCP ${what} refused: ${response.resultName}`);
}

export function createPcpClient(options: PcpOptions, components: PortMapComponents): MappingClient {
  const server: Address = { host: options.server, port: PCP_PORT };
  const timeoutMs = options.timeoutMs ?? 2000;
  const exchange = createGatewayExchange<PcpResponse>(
    components,
    server,
    'PCP',
    (bytes, what) => {
      if (bytes[0] === 0 && bytes.length >= 4 && bytes[1]! >= 128) {
        // A NAT-PMP-only gateway answers "unsupported version" in NAT-PMP format.
        throw new NatError('PCP_UNSUPPORTED', `PCP ${what}: gateway ${options.server} speaks NAT-PMP only`);
      }
      try {
        return decodePcpResponse(bytes);
      } catch {
        return undefined;
      }
    },
    timeoutMs,
  );

  const mapOnce = (request: PcpMapRequest, signal?: AbortSignal) =>
    exchange(
      encodePcpMap(request),
      (r) => {
        if (r.opcode !== PcpOpcode.map) return undefined;
        if (r.result !== 0) throw refused(request.lifetimeSec === 0 ? 'deletion' : 'MAP', r);
        const map = r.map!;
        // The nonce ties the answer to our request; anything else is stale or spoofed.
        if (!map.nonce.every((b, i) => b === request.nonce[i]) || map.internalPort !== request.internalPort)
          return undefined;
        return { lifetimeSec: r.lifetimeSec, external: map.external };
      },
      request.lifetimeSec === 0 ? 'deletion' : 'MAP',
      signal,
    );

  return {
    protocol: 'pcp',
    async probe(signal) {
      await exchange(
        encodePcpAnnounce(options.internalHost),
        (r) => {
          if (r.opcode !== PcpOpcode.announce) return undefined;
          if (r.result !== 0) throw refused('ANNOUNCE', r);
          return true;
        },
        'ANNOUNCE',
        signal,
      );
      return { externalHost: null };
    },
    async map(request, signal) {
      const previous = request.previous?.handle as { nonce: Uint8Array } | undefined;
      const nonce = previous?.nonce ?? components.random.bytes(12);
      const suggested = request.previous?.external.port ?? request.externalPort;
      const granted = await mapOnce(
        {
          nonce,
          clientHost: options.internalHost,
          lifetimeSec: request.leaseSec,
          internalPort: request.internalPort,
          ...(suggested ? { suggestedExternal: { host: '0.0.0.0', port: suggested } } : {}),
        },
        signal,
      );
      if (granted.external.port === 0 || granted.lifetimeSec === 0)
        throw new NatError('PCP_INVALID', 'PCP server granted port 0 or lifetime 0');
      return {
        protocol: 'pcp',
        gateway: options.server,
        internal: { host: options.internalHost, port: request.internalPort },
        external: granted.external,
        leaseSec: granted.lifetimeSec,
        handle: { nonce },
      } satisfies PortMapping;
    },
    async unmap(mapping, signal) {
      const { nonce } = mapping.handle as { nonce: Uint8Array };
      await mapOnce(
        { nonce, clientHost: options.internalHost, lifetimeSec: 0, internalPort: mapping.internal.port },
        signal,
      );
    },
  };
}
