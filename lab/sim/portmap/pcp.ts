import type { Address } from '../../../runtime/index.ts';
import { fromIpv4Mapped, ipv4Mapped } from '../ip.ts';
import type { Nat } from '../nat.ts';

/**
 * PCP server logic (RFC 6887), MAP and ANNOUNCE only, pure: request bytes in, response bytes out.
 *
 *   request header (24): | ver=2 | R=0,opcode | reserved u16 | lifetime u32 | client IP (16, v4-mapped) |
 *   response header (24): | ver=2 | R=1,opcode | reserved | result u8 | lifetime u32 | epoch u32 | reserved (12) |
 *   MAP payload (36): | nonce (12) | protocol u8 | reserved (3) | internal port u16 | ext port u16 | ext IP (16) |
 *
 * The response MAP payload echoes the nonce and carries the assigned external port and address.
 */
export const PCP_VERSION = 2;
export const PCP_RESULT = {
  SUCCESS: 0,
  UNSUPP_VERSION: 1,
  NOT_AUTHORIZED: 2,
  MALFORMED_REQUEST: 3,
  UNSUPP_OPCODE: 4,
  UNSUPP_OPTION: 5,
  MALFORMED_OPTION: 6,
  NETWORK_FAILURE: 7,
  NO_RESOURCES: 8,
  UNSUPP_PROTOCOL: 9,
  USER_EX_QUOTA: 10,
  CANNOT_PROVIDE_EXTERNAL: 11,
  ADDRESS_MISMATCH: 12,
  EXCESSIVE_REMOTE_PEERS: 13,
} as const;

const OPCODE_ANNOUNCE = 0;
const OPCODE_MAP = 1;
const MAX_LIFETIME_S = 86_400;
/** How long an error answer stays valid (RFC 6887 §7.4: "long lifetime" errors use 30 min). */
const ERROR_LIFETIME_S = 30;

export function handlePcp(
  request: Uint8Array,
  from: Address,
  nat: Nat,
  now: number,
  epochSeconds: number,
): Uint8Array | undefined {
  if (request.length < 2) return undefined;
  const opcodeByte = request[1]!;
  if (opcodeByte & 0x80) return undefined; // R bit: a response, never answered
  const opcode = opcodeByte & 0x7f;
  if (request.length < 24 || request.length > 1100 || request.length % 4 !== 0) {
    return error(opcode, PCP_RESULT.MALFORMED_REQUEST, epochSeconds, request, 0);
  }
  if (request[0] !== PCP_VERSION) return error(opcode, PCP_RESULT.UNSUPP_VERSION, epochSeconds, request, 0);
  const view = new DataView(request.buffer, request.byteOffset, request.byteLength);
  const lifetime = view.getUint32(4);
  const clientIp = fromIpv4Mapped(request.subarray(8, 24));
  const payloadLength = opcode === OPCODE_MAP ? 36 : 0;
  if (opcode !== OPCODE_MAP && opcode !== OPCODE_ANNOUNCE) {
    return error(opcode, PCP_RESULT.UNSUPP_OPCODE, epochSeconds, request, 0);
  }
  if (request.length < 24 + payloadLength) {
    return error(opcode, PCP_RESULT.MALFORMED_REQUEST, epochSeconds, request, payloadLength);
  }
  if (clientIp !== from.host)
    return error(opcode, PCP_RESULT.ADDRESS_MISMATCH, epochSeconds, request, payloadLength);
  // Options: we implement none, so any mandatory-to-process one (code < 128) is refused.
  for (let at = 24 + payloadLength; at + 4 <= request.length; ) {
    const code = request[at]!;
    const length = view.getUint16(at + 2);
    if (code < 128) return error(opcode, PCP_RESULT.UNSUPP_OPTION, epochSeconds, request, payloadLength);
    at += 4 + Math.ceil(length / 4) * 4;
  }
  if (opcode === OPCODE_ANNOUNCE) return response(opcode, PCP_RESULT.SUCCESS, 0, epochSeconds, 0);

  const protocolNumber = request[36]!;
  const internalPort = view.getUint16(40);
  const suggestedPort = view.getUint16(42);
  if (protocolNumber !== 17 && protocolNumber !== 6) {
    return error(opcode, PCP_RESULT.UNSUPP_PROTOCOL, epochSeconds, request, payloadLength);
  }
  const protocol = protocolNumber === 17 ? 'udp' : 'tcp';
  const out = response(opcode, PCP_RESULT.SUCCESS, 0, epochSeconds, 36);
  out.set(request.subarray(24, 60), 24);
  const o = new DataView(out.buffer);
  if (internalPort === 0)
    return error(opcode, PCP_RESULT.MALFORMED_REQUEST, epochSeconds, request, payloadLength);
  if (lifetime === 0) {
    const existing = nat.explicitMappingOf(protocol, from.host, internalPort);
    if (existing) nat.removeExplicitMapping(protocol, existing.externalIp, existing.externalPort, from.host);
    o.setUint16(42, suggestedPort);
    return out;
  }
  const granted = Math.min(lifetime, MAX_LIFETIME_S);
  const mapping = nat.addExplicitMapping(
    {
      protocol,
      internalIp: from.host,
      internalPort,
      externalPort: suggestedPort,
      lifetimeMs: granted * 1000,
      description: 'PCP',
      anyPortOnConflict: true,
      via: 'pcp',
    },
    now,
  );
  if (typeof mapping === 'string')
    return error(opcode, PCP_RESULT.NO_RESOURCES, epochSeconds, request, payloadLength);
  o.setUint32(4, granted);
  o.setUint16(42, mapping.externalPort);
  out.set(ipv4Mapped(mapping.externalIp), 44);
  return out;
}

function response(
  opcode: number,
  result: number,
  lifetime: number,
  epoch: number,
  payload: number,
): Uint8Array {
  const out = new Uint8Array(24 + payload);
  const view = new DataView(out.buffer);
  out[0] = PCP_VERSION;
  out[1] = 0x80 | opcode;
  out[3] = result;
  view.setUint32(4, lifetime);
  view.setUint32(8, epoch);
  return out;
}

/** Error answers echo the request's opcode payload (RFC 6887 §8.3) where there is one. */
function error(
  opcode: number,
  result: number,
  epoch: number,
  request: Uint8Array,
  payload: number,
): Uint8Array {
  const copy = Math.min(payload, Math.max(0, request.length - 24));
  const out = response(opcode, result, ERROR_LIFETIME_S, epoch, copy);
  if (copy > 0) out.set(request.subarray(24, 24 + copy), 24);
  return out;
}
