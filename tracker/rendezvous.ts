import type { MappingBehaviour } from '../nat/index.ts';
import type { Address, Clock, Random } from '../runtime/index.ts';
import type { RendezvousMessage } from './rendezvous-codec.ts';
import type { PeerCandidate } from './swarm-store.ts';

/**
 * The rendezvous core, sans-IO: it decides what to send to whom; the server (rendezvous-server.ts)
 * owns sessions and streams. A punch request from A makes it answer A and B with each other's
 * candidates in the same step, so both start punching at once.
 */

export interface RendezvousOptions {
  /** Seconds between keepalives agents should send to hold their NAT mapping to the tracker. */
  keepaliveSec: number;
  /** Punch requests one session may make per minute (no address harvesting by brute force). */
  punchesPerMinute: number;
}

export const DEFAULT_RENDEZVOUS: RendezvousOptions = { keepaliveSec: 20, punchesPerMinute: 30 };

export interface Registration {
  session: string;
  deviceId: string;
  release: string;
  mapping: MappingBehaviour;
  candidates: PeerCandidate[];
  /** The session's UDP source address as the tracker sees it: the device's reflexive address. */
  observed: Address;
}

export interface Outgoing {
  session: string;
  message: RendezvousMessage;
}

export class Rendezvous {
  private readonly bySession = new Map<string, Registration>();
  private readonly byDevice = new Map<string, Registration>();
  private readonly budget = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly options: RendezvousOptions,
    private readonly components: {
      clock: Clock;
      random: Random;
      /** Whether two registrations may learn each other's addresses (peering scope). Default: yes. */
      mayPair?: (a: Registration, b: Registration) => boolean;
    },
  ) {}

  get size(): number {
    return this.bySession.size;
  }

  registration(deviceId: string): Registration | undefined {
    return this.byDevice.get(deviceId);
  }

  /** A device (already authenticated by the caller) registers on a session; a newer session replaces an older one. */
  register(registration: Registration): Outgoing[] {
    const previous = this.byDevice.get(registration.deviceId);
    if (previous && previous.session !== registration.session) this.bySession.delete(previous.session);
    const old = this.bySession.get(registration.session);
    if (old && old.deviceId !== registration.deviceId) this.byDevice.delete(old.deviceId);
    this.bySession.set(registration.session, registration);
    this.byDevice.set(registration.deviceId, registration);
    return [
      {
        session: registration.session,
        message: {
          type: 'registered',
          keepaliveSec: this.options.keepaliveSec,
          observed: registration.observed,
        },
      },
    ];
  }

  disconnect(session: string): void {
    const reg = this.bySession.get(session);
    if (!reg) return;
    this.bySession.delete(session);
    if (this.byDevice.get(reg.deviceId)?.session === session) this.byDevice.delete(reg.deviceId);
    this.budget.delete(session);
  }

  punch(session: string, requestId: number, target: string): Outgoing[] {
    const fail = (code: string, message: string): Outgoing[] => [
      { session, message: { type: 'error', requestId, code, message } },
    ];
    const from = this.bySession.get(session);
    if (!from) return fail('NOT_REGISTERED', 'register before asking for a punch');
    if (!this.spend(session)) return fail('RATE_LIMITED', 'too many punch requests');
    const to = this.byDevice.get(target);
    // Unknown, other release or outside the peering scope all look the same: no address leaks.
    if (
      !to ||
      to.deviceId === from.deviceId ||
      to.release !== from.release ||
      !(this.components.mayPair?.(from, to) ?? true)
    )
      return fail('PEER_UNAVAILABLE', `peer ${target} is not reachable through this rendezvous`);
    const punchSession = this.components.random.bytes(8);
    return [
      {
        session: from.session,
        message: {
          type: 'punch-go',
          requestId,
          session: punchSession,
          peer: to.deviceId,
          peerMapping: to.mapping,
          role: 'initiator',
          candidates: candidatesFor(to, from),
        },
      },
      {
        session: to.session,
        message: {
          type: 'punch-go',
          requestId: 0,
          session: punchSession,
          peer: from.deviceId,
          peerMapping: from.mapping,
          role: 'responder',
          candidates: candidatesFor(from, to),
        },
      },
    ];
  }

  private spend(session: string): boolean {
    const now = this.components.clock.now();
    const perMs = this.options.punchesPerMinute / 60_000;
    const b = this.budget.get(session) ?? { tokens: this.options.punchesPerMinute, at: now };
    b.tokens = Math.min(this.options.punchesPerMinute, b.tokens + (now - b.at) * perMs);
    b.at = now;
    this.budget.set(session, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/**
 * What `viewer` is told about `subject`: its observed (reflexive) address first, its own candidates,
 * and LAN candidates only when both sit behind the same public address.
 */
export function candidatesFor(subject: Registration, viewer: Registration): PeerCandidate[] {
  const sameLan = subject.observed.host === viewer.observed.host;
  const out: PeerCandidate[] = [];
  const add = (c: PeerCandidate) => {
    if (out.length >= 16 || out.some((o) => o.host === c.host && o.port === c.port)) return;
    out.push(c);
  };
  add({ type: 'srflx', host: subject.observed.host, port: subject.observed.port });
  for (const c of subject.candidates) if (c.type !== 'host' || sameLan) add(c);
  return out;
}
