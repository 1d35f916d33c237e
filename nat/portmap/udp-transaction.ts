import type { Address, Clock, TimerHandle, UdpNetwork } from '../../runtime/index.ts';
import { NatError } from '../errors.ts';

export interface UdpTransactionOptions {
  /** First retransmission after this many ms, doubling (RFC 6886 uses 250 ms). */
  rtoMs: number;
  /** Hard limit for the whole exchange. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Names the exchange in the timeout error. */
  what: string;
}

/**
 * Sends `request` to `to` from a fresh ephemeral socket until `accept` returns a value for some
 * answer, the deadline passes or the signal aborts. `accept` throws to fail the exchange (a gateway
 * that answers with an error code); returning undefined means "not ours / malformed, keep waiting".
 */
export async function udpTransaction<T>(
  udp: UdpNetwork,
  clock: Clock,
  to: Address,
  request: Uint8Array,
  accept: (bytes: Uint8Array, from: Address) => T | undefined,
  options: UdpTransactionOptions,
): Promise<T> {
  const socket = await udp.bind();
  try {
    return await new Promise<T>((resolve, reject) => {
      let retransmit: TimerHandle | undefined;
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        off();
        if (retransmit) clock.clearTimer(retransmit);
        clock.clearTimer(deadline);
        options.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = (): void => finish(() => reject(options.signal?.reason));
      const off = socket.onMessage((bytes, from) => {
        if (from.host !== to.host || from.port !== to.port) return; // only the gateway may answer
        try {
          const value = accept(bytes, from);
          if (value !== undefined) finish(() => resolve(value));
        } catch (error) {
          finish(() => reject(error));
        }
      });
      const deadline = clock.setTimer(options.timeoutMs, () =>
        finish(() =>
          reject(
            new NatError(
              'GATEWAY_TIMEOUT',
              `${options.what}: no answer from ${to.host} in ${options.timeoutMs} ms`,
            ),
          ),
        ),
      );
      let rto = options.rtoMs;
      const send = (): void => {
        socket.send(to, request);
        retransmit = clock.setTimer(rto, send);
        rto *= 2;
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      send();
    });
  } finally {
    await socket.close();
  }
}

/** One request/answer exchange with a fixed gateway, answers already decoded. */
export type GatewayExchange<R> = <T>(
  request: Uint8Array,
  accept: (response: R) => T | undefined,
  what: string,
  signal?: AbortSignal,
) => Promise<T>;

/**
 * Binds `udpTransaction` to one gateway and one wire format, so NAT-PMP and PCP clients share the
 * retransmission policy and only say how to decode. `decode` returns undefined for bytes that are
 * not a valid answer (keep waiting) and throws to fail the exchange outright.
 */
export function createGatewayExchange<R>(
  components: { udp: UdpNetwork; clock: Clock },
  gateway: Address,
  protocol: string,
  decode: (bytes: Uint8Array, what: string) => R | undefined,
  timeoutMs: number,
): GatewayExchange<R> {
  return (request, accept, what, signal) =>
    udpTransaction(
      components.udp,
      components.clock,
      gateway,
      request,
      (bytes) => {
        const response = decode(bytes, what);
        return response === undefined ? undefined : accept(response);
      },
      { rtoMs: 250, timeoutMs, signal, what: `${protocol} ${what}` },
    );
}
