/**
 * NAT-PMP (RFC 6886), UDP to the gateway's port 5351.
 *
 * External address request: version 0 | opcode 0                         (2 bytes)
 * External address response: 0 | 128 | result (16) | epoch (32) | external IPv4 (32)   (12 bytes)
 * Map UDP request: 0 | 1 | reserved (16) | internal port | suggested external port | lifetime (32)
 * Map UDP response: 0 | 129 | result (16) | epoch (32) | internal port | external port | lifetime (32)
 * Lifetime 0 and external port 0 delete the mapping.
 */
import type { Address } from '../../runtime/index.ts';
import { NatDecodeError, NatError } from '../errors.ts';
import { formatIPv4 } from '../ip.ts';
import type { MappingClient, PortMapComponents, PortMapping } from './types.ts';
import { createGatewayExchange } from './udp-transaction.ts';

export const NAT_PMP_PORT = 5351;

const RESULT_NAMES = [
  'success',
  'unsupported version',
  'not authorized/refused',
  'network failure',
  'out of resources',
  'unsupported opcode',
];

export function encodeExternalAddressRequest(): Uint8Array {
  return new Uint8Array([0, 0]);
}

export function encodeMapRequest(
  internalPort: number,
  externalPort: number,
  lifetimeSec: number,
): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  out[1] = 1; // UDP
  view.setUint16(4, internalPort);
  view.setUint16(6, externalPort);
  view.setUint32(8, lifetimeSec);
  return out;
}

export type NatPmpResponse =
  | { opcode: 0; result: number; epoch: number; externalHost: string }
  | {
      opcode: 1 | 2;
      result: number;
      epoch: number;
      internalPort: number;
      externalPort: number;
      lifetimeSec: number;
    };

/** Decodes a NAT-PMP response; throws NatDecodeError on anything that is not one. */
export function decodeNatPmpResponse(bytes: Uint8Array): NatPmpResponse {
  if (bytes.length < 8) throw new NatDecodeError('NAT-PMP response', 'shorter than 8 bytes');
  if (bytes[0] !== 0) throw new NatDecodeError('NAT-PMP response', `version ${bytes[0]}`);
  const op = bytes[1]!;
  if (op < 128) throw new NatDecodeError('NAT-PMP response', 'is a request');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const result = view.getUint16(2);
  const epoch = view.getUint32(4);
  if (op === 128) {
    if (result !== 0) return { opcode: 0, result, epoch, externalHost: '0.0.0.0' };
    if (bytes.length < 12)
      throw new NatDecodeError('NAT-PMP response', 'external address response too short');
    return { opcode: 0, result, epoch, externalHost: formatIPv4(bytes, 8) };
  }
  if (op === 129 || op === 130) {
    if (result !== 0)
      return { opcode: op === 129 ? 1 : 2, result, epoch, internalPort: 0, externalPort: 0, lifetimeSec: 0 };
    if (bytes.length < 16) throw new NatDecodeError('NAT-PMP response', 'mapping response too short');
    return {
      opcode: op === 129 ? 1 : 2,
      result,
      epoch,
      internalPort: view.getUint16(8),
      externalPort: view.getUint16(10),
      lifetimeSec: view.getUint32(12),
    };
  }
  throw new NatDecodeError('NAT-PMP response', `unknown opcode ${op}`);
}

/**
 * The gateway answers but has no public address of its own: it sits behind another NAT (NAT444, a
 * CGN) or its WAN is down. Any mapping it could make would not make us reachable.
 */
export class GatewayBehindNatError extends NatError {
  readonly externalHost: string | null;
  constructor(protocol: string, gateway: string, externalHost: string | null) {
    super(
      'GATEWAY_BEHIND_NAT',
      `${protocol} gateway ${gateway} has no public address${externalHost ? ` (its WAN is ${externalHost})` : ''}: it is behind another NAT (NAT444), a port mapping there would be mapped but not reachable`,
    );
    this.externalHost = externalHost;
  }
}

function resultError(what: string, result: number): NatError {
  return new NatError(
    'NAT_PMP_REFUSED',
    `NAT-PMP ${what} refused: ${RESULT_NAMES[result] ?? `result ${result}`}`,
  );
}

export interface NatPmpOptions {
  gateway: string;
  /** Budget per exchange (RFC: up to 64 s; we stay interactive). Default 2000 ms. */
  timeoutMs?: number;
  /** The host our mapping points to (the LAN address the gateway sees). */
  internalHost: string;
}

export function createNatPmpClient(options: NatPmpOptions, components: PortMapComponents): MappingClient {
  const server: Address = { host: options.gateway, port: NAT_PMP_PORT };
  const timeoutMs = options.timeoutMs ?? 2000;
  const exchange = createGatewayExchange<NatPmpResponse>(
    components,
    server,
    'NAT-PMP',
    (bytes) => {
      try {
        return decodeNatPmpResponse(bytes);
      } catch {
        return undefined;
      }
    },
    timeoutMs,
  );
  return {
    protocol: 'nat-pmp',
    probe(signal) {
      return exchange(
        encodeExternalAddressRequest(),
        (r) => {
          if (r.opcode !== 0) return undefined;
          // RFC 6886 §3.2: result 3 here means the gateway itself has no public address.
          if (r.result === 3) throw new GatewayBehindNatError('NAT-PMP', options.gateway, null);
          if (r.result !== 0) throw resultError('external address request', r.result);
          return { externalHost: r.externalHost };
        },
        'external address request',
        signal,
      );
    },
    async map(request, signal) {
      const external = await this.probe(signal);
      const granted = await exchange(
        encodeMapRequest(
          request.internalPort,
          request.previous?.external.port ?? request.externalPort ?? request.internalPort,
          request.leaseSec,
        ),
        (r) => {
          if (r.opcode !== 1) return undefined;
          if (r.result !== 0) throw resultError('mapping', r.result);
          if (r.internalPort !== request.internalPort) return undefined;
          if (r.externalPort === 0 || r.lifetimeSec === 0)
            throw new NatError('NAT_PMP_INVALID', 'NAT-PMP gateway granted port 0 or lifetime 0');
          return r;
        },
        'mapping',
        signal,
      );
      const mapping: PortMapping = {
        protocol: 'nat-pmp',
        gateway: options.gateway,
        internal: { host: options.internalHost, port: request.internalPort },
        external: { host: external.externalHost ?? '0.0.0.0', port: granted.externalPort },
        leaseSec: granted.lifetimeSec,
        handle: null,
      };
      return mapping;
    },
    async unmap(mapping, signal) {
      await exchange(
        encodeMapRequest(mapping.internal.port, 0, 0),
        (r) => {
          if (r.opcode !== 1) return undefined;
          if (r.result !== 0) throw resultError('deletion', r.result);
          return true;
        },
        'deletion',
        signal,
      );
    },
  };
}
