import {
  type Address,
  type Clock,
  formatAddress,
  type Random,
  type TimerHandle,
} from '../../runtime/index.ts';
import type { DatagramChannel } from '../channel.ts';
import { NatError } from '../errors.ts';
import { decodeStun, encodeStun, looksLikeStun, reflexiveAddress, StunMethod } from './codec.ts';

export interface StunClientOptions {
  /** Initial retransmission timeout (RFC 8489 §6.2.1 recommends 500 ms). Doubles per retransmission. */
  rtoMs?: number;
  /** Rc: total transmissions of one request (RFC default 7). */
  maxTransmissions?: number;
  /** Rm: after the last transmission, wait rtoMs × Rm for an answer (RFC default 16). */
  finalWaitFactor?: number;
}

export const STUN_CLIENT_DEFAULTS: Required<StunClientOptions> = {
  rtoMs: 500,
  maxTransmissions: 7,
  finalWaitFactor: 16,
};

export interface BindingOptions extends StunClientOptions {
  /** RFC 5780 CHANGE-REQUEST flags. */
  changeIp?: boolean;
  changePort?: boolean;
  /** Hard cap on the whole transaction regardless of the retransmission schedule. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface BindingResult {
  /** Our address as the server saw it (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS). */
  reflexive: Address;
  /** Where the response actually came from. */
  from: Address;
  responseOrigin?: Address;
  /** RFC 5780 OTHER-ADDRESS: the server's alternate IP and port, if it has them. */
  otherAddress?: Address;
  rttMs: number;
  transmissions: number;
}

export class StunTimeoutError extends NatError {
  constructor(server: Address, transmissions: number, elapsedMs: number) {
    super(
      'STUN_TIMEOUT',
      `no STUN answer from ${formatAddress(server)} after ${transmissions} transmissions in ${elapsedMs} ms`,
    );
  }
}

export class StunErrorResponse extends NatError {
  readonly stunCode: number;
  constructor(server: Address, stunCode: number, reason: string) {
    super(
      'STUN_ERROR_RESPONSE',
      `STUN server ${formatAddress(server)} answered ${stunCode} ${reason}`.trim(),
    );
    this.stunCode = stunCode;
  }
}

export interface StunClient {
  binding(server: Address, options?: BindingOptions): Promise<BindingResult>;
  /** Stops listening; pending transactions reject with an aborted error. */
  close(): void;
}

interface Pending {
  server: Address;
  settle: (outcome: { ok: true; result: BindingResult } | { ok: false; error: Error }) => void;
  sentAt: number;
  transmissions: number;
}

function key(transactionId: Uint8Array): string {
  return Buffer.from(transactionId).toString('hex');
}

/** A STUN Binding client over any datagram channel, with RFC 8489 retransmission on the injected clock. */
export function createStunClient(
  options: StunClientOptions,
  components: { channel: DatagramChannel; clock: Clock; random: Random },
): StunClient {
  const { channel, clock, random } = components;
  const defaults = { ...STUN_CLIENT_DEFAULTS, ...options };
  const pending = new Map<string, Pending>();

  const off = channel.onMessage((bytes, from) => {
    if (!looksLikeStun(bytes)) return;
    let message: ReturnType<typeof decodeStun>;
    try {
      message = decodeStun(bytes);
    } catch {
      return; // malformed: as if lost; retransmission or the deadline decides
    }
    if (message.method !== StunMethod.binding) return;
    const entry = pending.get(key(message.transactionId));
    if (!entry) return;
    if (message.class === 'error') {
      const code = message.errorCode?.code ?? 0;
      entry.settle({
        ok: false,
        error: new StunErrorResponse(entry.server, code, message.errorCode?.reason ?? ''),
      });
      return;
    }
    if (message.class !== 'success') return;
    const reflexive = reflexiveAddress(message);
    if (!reflexive) return; // a success without an address is useless: keep waiting
    const result: BindingResult = {
      reflexive,
      from,
      rttMs: clock.now() - entry.sentAt,
      transmissions: entry.transmissions,
    };
    if (message.responseOrigin) result.responseOrigin = message.responseOrigin;
    if (message.otherAddress) result.otherAddress = message.otherAddress;
    entry.settle({ ok: true, result });
  });

  return {
    binding(server, bindingOptions = {}) {
      const o = { ...defaults, ...bindingOptions };
      const transactionId = random.bytes(12);
      const id = key(transactionId);
      const request = encodeStun({
        method: StunMethod.binding,
        class: 'request',
        transactionId,
        ...(o.changeIp || o.changePort
          ? { changeRequest: { changeIp: Boolean(o.changeIp), changePort: Boolean(o.changePort) } }
          : {}),
      });
      const started = clock.now();
      return new Promise<BindingResult>((resolve, reject) => {
        let timer: TimerHandle | undefined;
        let deadline: TimerHandle | undefined;
        const entry: Pending = { server, sentAt: started, transmissions: 0, settle: () => {} };
        const finish = (outcome: { ok: true; result: BindingResult } | { ok: false; error: Error }): void => {
          if (!pending.has(id)) return;
          pending.delete(id);
          if (timer) clock.clearTimer(timer);
          if (deadline) clock.clearTimer(deadline);
          o.signal?.removeEventListener('abort', onAbort);
          if (outcome.ok) resolve(outcome.result);
          else reject(outcome.error);
        };
        entry.settle = finish;
        const onAbort = (): void =>
          finish({ ok: false, error: o.signal?.reason ?? new NatError('ABORTED', 'STUN request aborted') });
        const timeout = (): void =>
          finish({
            ok: false,
            error: new StunTimeoutError(server, entry.transmissions, clock.now() - started),
          });
        let rto = o.rtoMs;
        const transmit = (): void => {
          if (!pending.has(id)) return;
          entry.transmissions++;
          entry.sentAt = clock.now();
          channel.send(server, request);
          if (entry.transmissions < o.maxTransmissions) {
            timer = clock.setTimer(rto, transmit);
            rto *= 2;
          } else {
            timer = clock.setTimer(o.rtoMs * o.finalWaitFactor, timeout);
          }
        };
        if (o.signal?.aborted) {
          reject(o.signal.reason);
          return;
        }
        pending.set(id, entry);
        o.signal?.addEventListener('abort', onAbort, { once: true });
        if (o.timeoutMs !== undefined) deadline = clock.setTimer(o.timeoutMs, timeout);
        transmit();
      });
    },
    close() {
      off();
      for (const entry of [...pending.values()])
        entry.settle({ ok: false, error: new NatError('ABORTED', 'STUN client closed') });
    },
  };
}
