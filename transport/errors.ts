import { SwarmlaneError } from '../runtime/index.ts';

/** Errors the transport raises to its callers (connect failures, use after close). */
export class TransportError extends SwarmlaneError {}

/** Thrown by the codecs on malformed input; the endpoint catches it and drops the datagram. */
export class DecodeError extends SwarmlaneError {
  constructor(message: string) {
    super('DECODE_ERROR', message);
  }
}

/** CONNECTION_CLOSE codes. Values below 0x100 are transport errors; callers use 0x100 and above. */
export const CloseCode = {
  NO_ERROR: 0x0,
  INTERNAL_ERROR: 0x1,
  PROTOCOL_VIOLATION: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  IDLE_TIMEOUT: 0x4,
  VERSION_MISMATCH: 0x5,
  HANDSHAKE_FAILED: 0x6,
  STREAM_LIMIT_ERROR: 0x7,
  ENDPOINT_CLOSING: 0x8,
  APPLICATION: 0x100,
} as const;
