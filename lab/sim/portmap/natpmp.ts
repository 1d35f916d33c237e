import type { Address } from '../../../runtime/index.ts';
import { ipToInt } from '../ip.ts';
import type { Nat } from '../nat.ts';

/**
 * NAT-PMP server logic (RFC 6886), pure: request bytes in, response bytes out.
 *
 *   request  (op 0): | ver=0 | op=0 |
 *   response (op 0): | ver=0 | 128 | result u16 | epoch u32 | external IPv4 |
 *   request  (op 1 UDP, 2 TCP): | ver=0 | op | reserved u16 | internal port u16 | suggested ext port u16 | lifetime u32 |
 *   response (op 1/2): | ver=0 | 128+op | result u16 | epoch u32 | internal port u16 | mapped ext port u16 | lifetime u32 |
 *
 * Result codes: 0 success, 1 unsupported version, 2 not authorized, 3 network failure, 4 out of
 * resources, 5 unsupported opcode. Lifetime 0 deletes the client's mapping for the internal port.
 */
export const NATPMP_PORT = 5351;
export const NATPMP_RESULT = {
  success: 0,
  unsupportedVersion: 1,
  notAuthorized: 2,
  networkFailure: 3,
  outOfResources: 4,
  unsupportedOpcode: 5,
} as const;

/** Longest lease we grant (the RFC recommends clients ask for 7200 s). */
const MAX_LIFETIME_S = 86_400;

export function handleNatPmp(
  request: Uint8Array,
  from: Address,
  nat: Nat,
  now: number,
  epochSeconds: number,
): Uint8Array | undefined {
  if (request.length < 2) return undefined;
  const op = request[1]!;
  if (op >= 128) return undefined; // a response, not a request
  if (request[0] !== 0) return header(op, NATPMP_RESULT.unsupportedVersion, epochSeconds, 8);
  if (op === 0) {
    const out = header(0, NATPMP_RESULT.success, epochSeconds, 12);
    new DataView(out.buffer).setUint32(8, ipToInt(nat.externalIpFor(from.host)));
    return out;
  }
  if (op !== 1 && op !== 2) return header(op, NATPMP_RESULT.unsupportedOpcode, epochSeconds, 8);
  if (request.length < 12) return undefined;
  const view = new DataView(request.buffer, request.byteOffset, request.byteLength);
  const internalPort = view.getUint16(4);
  const suggested = view.getUint16(6);
  const lifetime = view.getUint32(8);
  const protocol = op === 1 ? 'udp' : 'tcp';
  const out = header(op, NATPMP_RESULT.success, epochSeconds, 16);
  const o = new DataView(out.buffer);
  o.setUint16(8, internalPort);
  if (lifetime === 0) {
    // Delete (internal port 0 with lifetime 0 would mean "all of this client's mappings").
    const existing = nat.explicitMappingOf(protocol, from.host, internalPort);
    if (existing) nat.removeExplicitMapping(protocol, existing.externalIp, existing.externalPort, from.host);
    return out;
  }
  if (internalPort === 0) return header(op, NATPMP_RESULT.notAuthorized, epochSeconds, 16);
  const granted = Math.min(lifetime, MAX_LIFETIME_S);
  const mapping = nat.addExplicitMapping(
    {
      protocol,
      internalIp: from.host,
      internalPort,
      externalPort: suggested,
      lifetimeMs: granted * 1000,
      description: 'NAT-PMP',
      anyPortOnConflict: true,
      via: 'nat-pmp',
    },
    now,
  );
  if (typeof mapping === 'string') {
    const err = header(op, NATPMP_RESULT.outOfResources, epochSeconds, 16);
    new DataView(err.buffer).setUint16(8, internalPort);
    return err;
  }
  o.setUint16(10, mapping.externalPort);
  o.setUint32(12, granted);
  return out;
}

function header(op: number, result: number, epoch: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  out[0] = 0;
  out[1] = 128 + (op & 0x7f);
  view.setUint16(2, result);
  view.setUint32(4, epoch);
  return out;
}
