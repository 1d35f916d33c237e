import { SwarmlaneError } from '../runtime/index.ts';

/** Every NAT-traversal failure: malformed packets, timeouts, gateway refusals, failed punches. */
export class NatError extends SwarmlaneError {}

/** A datagram that claims to be STUN (or PCP, NAT-PMP, punch) but does not parse. */
export class NatDecodeError extends NatError {
  constructor(what: string, why: string) {
    super('NAT_DECODE', `malformed ${what}: ${why}`);
  }
}
