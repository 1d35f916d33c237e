import {
  type Address,
  type Clock,
  formatAddress,
  type Logger,
  type Random,
  type TimerHandle,
} from '../../runtime/index.ts';
import type { DatagramChannel } from '../channel.ts';
import { NatError } from '../errors.ts';
import type { MappingBehaviour } from '../report.ts';
import { orderRemoteCandidates, type PunchCandidate } from './candidates.ts';
import { decodePunch, encodePunch, isPunchDatagram, type PunchMessage } from './codec.ts';

export interface PuncherOptions {
  /** Time between probe rounds (every remote candidate once per round). Default 100 ms. */
  roundMs?: number;
  /** Give up after this long. Default 2500 ms (the issue asks for < 3 s). */
  timeoutMs?: number;
  /** Keepalive interval once connected; must stay below NAT UDP timeouts (RFC 4787: >= 2 min). Default 15 s. */
  keepaliveMs?: number;
  /**
   * Bounded birthday probing of random ports on the remote's public IP, for an easy <-> hard pair.
   * Off by default, and always off on battery.
   */
  birthday?: { enabled: boolean; maxProbes?: number; perRound?: number };
  onBattery?: boolean;
}

export const PUNCHER_DEFAULTS = { roundMs: 100, timeoutMs: 2500, keepaliveMs: 15_000 };

export interface PunchRequest {
  /** 8 bytes from the rendezvous, identical on both sides. */
  session: Uint8Array;
  local: PunchCandidate[];
  remote: PunchCandidate[];
  /** Mapping classes from both reachability reports, used to explain failures and to enable birthday probing. */
  localMapping?: MappingBehaviour;
  remoteMapping?: MappingBehaviour;
  signal?: AbortSignal;
}

export interface PunchSession {
  /** The remote address that answered: use it for the transport connection. */
  readonly remote: Address;
  /** Which candidate it was (prflx when learned from an incoming ping). */
  readonly via: PunchCandidate['type'];
  /** Our address as the peer saw it. */
  readonly observed: Address;
  readonly elapsedMs: number;
  readonly rttMs: number;
  /** Stops keepalives; the session still answers the peer's probes for one punch budget, then is forgotten. */
  close(): void;
}

export class PunchError extends NatError {
  readonly reason: string;
  constructor(reason: string) {
    super('PUNCH_FAILED', `hole punch failed: ${reason}`);
    this.reason = reason;
  }
}

export interface Puncher {
  punch(request: PunchRequest): Promise<PunchSession>;
  /** Ends every session and stops listening. */
  close(): void;
}

interface SessionState {
  token: string;
  session: Uint8Array;
  targets: Array<{ address: Address; type: PunchCandidate['type'] }>;
  sentAt: Map<string, number>;
  connected: Address | null;
  onPong: (message: Extract<PunchMessage, { type: 'pong' }>, from: Address) => void;
  timers: Set<TimerHandle>;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hard = (m?: MappingBehaviour): boolean =>
  m === 'address-dependent' || m === 'address-and-port-dependent';

/**
 * ICE-lite style hole punching on one shared socket: both peers probe all of each other's candidates
 * at once, answer every probe (learning peer-reflexive addresses), keep the first pair that answers,
 * and hold it with keepalives.
 */
export function createPuncher(
  options: PuncherOptions,
  components: { clock: Clock; random: Random; logger: Logger; port: DatagramChannel },
): Puncher {
  const { clock, random, logger, port } = components;
  const o = {
    roundMs: options.roundMs ?? PUNCHER_DEFAULTS.roundMs,
    timeoutMs: options.timeoutMs ?? PUNCHER_DEFAULTS.timeoutMs,
    keepaliveMs: options.keepaliveMs ?? PUNCHER_DEFAULTS.keepaliveMs,
  };
  const birthday = options.birthday?.enabled && !options.onBattery ? options.birthday : null;
  const sessions = new Map<string, SessionState>();
  let off: (() => void) | null = null;

  const send = (state: SessionState, to: Address, type: 'ping' | 'keepalive'): void => {
    const transaction = random.bytes(8);
    state.sentAt.set(hex(transaction), clock.now());
    if (state.sentAt.size > 4096) state.sentAt.delete(state.sentAt.keys().next().value!);
    port.send(to, encodePunch({ type, session: state.session, transaction }));
  };

  const onDatagram = (bytes: Uint8Array, from: Address): void => {
    if (!isPunchDatagram(bytes)) return;
    let message: PunchMessage;
    try {
      message = decodePunch(bytes);
    } catch {
      return;
    }
    const state = sessions.get(hex(message.session));
    if (!state) return; // a stranger, or a session we closed: no answer, no amplification
    if (message.type === 'ping') {
      port.send(
        from,
        encodePunch({
          type: 'pong',
          session: state.session,
          transaction: message.transaction,
          observed: from,
        }),
      );
      if (
        !state.connected &&
        !state.targets.some((t) => t.address.host === from.host && t.address.port === from.port)
      ) {
        // Peer-reflexive: the peer reached us from an address nobody told us about. Probe it next.
        state.targets.unshift({ address: from, type: 'prflx' });
        send(state, from, 'ping');
      }
    } else if (message.type === 'pong') {
      state.onPong(message, from);
    }
  };

  return {
    punch(request) {
      if (request.session.length !== 8)
        return Promise.reject(new RangeError('punch session must be 8 bytes'));
      const token = hex(request.session);
      if (sessions.has(token))
        return Promise.reject(new NatError('PUNCH_BUSY', 'a punch for this session is running'));
      off ??= port.onMessage(onDatagram);
      // Never probe ourselves: two homes can use the same private address and port.
      const ownHosts = request.local.filter((c) => c.type === 'host');
      const ordered = orderRemoteCandidates(request.local, request.remote).filter(
        (c) => !ownHosts.some((own) => own.host === c.host && own.port === c.port),
      );
      const started = clock.now();
      return new Promise<PunchSession>((resolve, reject) => {
        const state: SessionState = {
          token,
          session: request.session,
          targets: ordered.map((c) => ({ address: { host: c.host, port: c.port }, type: c.type })),
          sentAt: new Map(),
          connected: null,
          onPong: () => {},
          timers: new Set(),
        };
        sessions.set(token, state);
        const clearTimers = (): void => {
          for (const t of state.timers) clock.clearTimer(t);
          state.timers.clear();
        };
        const forget = (): void => {
          clearTimers();
          sessions.delete(token);
          request.signal?.removeEventListener('abort', onAbort);
        };
        const fail = (error: Error): void => {
          if (state.connected) return;
          forget();
          reject(error);
        };
        const onAbort = (): void => fail(request.signal?.reason ?? new NatError('ABORTED', 'punch aborted'));
        // Closing a punch that connected: the peer may still be probing (a symmetric peer's probe got
        // through to us first; the peer hears back only once it tries the port it learned from that
        // probe), so keep answering its probes for one punch budget before forgetting the session.
        const linger = (): void => {
          clearTimers();
          request.signal?.removeEventListener('abort', onAbort);
          state.timers.add(
            clock.setTimer(o.timeoutMs, () => {
              state.timers.clear();
              if (sessions.get(token) === state) sessions.delete(token);
            }),
          );
        };

        state.onPong = (message, from) => {
          if (state.connected) return;
          const sentAt = state.sentAt.get(hex(message.transaction));
          if (sentAt === undefined) return; // not an answer to anything we sent
          state.connected = from;
          clearTimers();
          request.signal?.removeEventListener('abort', onAbort);
          const target = state.targets.find(
            (t) => t.address.host === from.host && t.address.port === from.port,
          );
          const keepalive = (): void => {
            send(state, from, 'keepalive');
            state.timers.add(clock.setTimer(o.keepaliveMs, keepalive));
          };
          state.timers.add(clock.setTimer(o.keepaliveMs, keepalive));
          const elapsedMs = clock.now() - started;
          logger.debug({ remote: formatAddress(from), elapsedMs }, 'nat: hole punch connected');
          resolve({
            remote: from,
            via: target?.type ?? 'prflx',
            observed: message.observed,
            elapsedMs,
            rttMs: clock.now() - sentAt,
            close: linger,
          });
        };

        // Birthday probing: ports near the remote's known public port first (sequential allocators),
        // then random ones, a few per round, never more than maxProbes in all.
        const birthdayTargets: Address[] = [];
        const remotePublic = ordered.find((c) => c.type === 'srflx');
        if (birthday && remotePublic && hard(request.remoteMapping) && !hard(request.localMapping)) {
          const max = Math.min(birthday.maxProbes ?? 256, 4096);
          const seen = new Set<number>([remotePublic.port]);
          for (let d = 1; d <= 16 && birthdayTargets.length < max; d++)
            for (const p of [remotePublic.port + d, remotePublic.port - d])
              if (p > 0 && p < 65536 && !seen.has(p)) {
                seen.add(p);
                birthdayTargets.push({ host: remotePublic.host, port: p });
              }
          while (birthdayTargets.length < max) {
            const p = 1024 + random.int(64512);
            if (seen.has(p)) continue;
            seen.add(p);
            birthdayTargets.push({ host: remotePublic.host, port: p });
          }
        }
        const perRound = birthday?.perRound ?? 16;

        const round = (): void => {
          for (const t of state.targets) send(state, t.address, 'ping');
          for (const target of birthdayTargets.splice(0, perRound)) send(state, target, 'ping');
          state.timers.add(clock.setTimer(o.roundMs, round));
        };
        state.timers.add(
          clock.setTimer(o.timeoutMs, () => fail(new PunchError(explain(request, state, o.timeoutMs)))),
        );
        if (request.signal?.aborted) return onAbort();
        request.signal?.addEventListener('abort', onAbort, { once: true });
        if (state.targets.length === 0 && !birthday) {
          // Nothing to probe; still wait: the peer may reach us and become a peer-reflexive target.
          logger.debug({}, 'nat: punching with no remote candidates; waiting for the peer');
        }
        round();
      });
    },
    close() {
      off?.();
      off = null;
      for (const state of sessions.values()) for (const t of state.timers) clock.clearTimer(t);
      sessions.clear();
    },
  };
}

function explain(request: PunchRequest, state: SessionState, timeoutMs: number): string {
  const tried = state.targets.map((t) => `${t.type} ${formatAddress(t.address)}`).join(', ') || 'none';
  let why = '';
  if (hard(request.localMapping) && hard(request.remoteMapping))
    why = '; both sides have destination-dependent (symmetric) mappings, which punching cannot traverse';
  else if (hard(request.localMapping) || hard(request.remoteMapping))
    why = '; one side has a symmetric mapping and the other filters by port';
  return `no answer in ${timeoutMs} ms from remote candidates [${tried}]${why}`;
}
