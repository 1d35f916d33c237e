import type {
  Address,
  Clock,
  DatagramHandler,
  Random,
  TimerHandle,
  UdpNetwork,
  UdpSocket,
} from '../../../runtime/index.ts';
import { createSeededRandom } from '../../../runtime/index.ts';

/**
 * A tiny in-process network in virtual time for transport tests and the transport benchmark (until
 * lab/sim is usable here): hosts with an egress link each (rate, queue, one-way delay, loss,
 * duplication, reordering jitter), address changes (migration), and a run loop that jumps from event
 * to event while letting promises and nextTicks settle in between. No real timers are involved.
 */
export interface LinkSpec {
  /** One-way delay added to every datagram leaving the host, ms. */
  delayMs?: number;
  /** Egress rate in bits/s; undefined = infinite. */
  rateBps?: number;
  /** Bytes the egress queue holds before tail drop. Default 256 KiB. */
  queueBytes?: number;
  loss?: number;
  duplicate?: number;
  /** Extra uniform random delay 0..jitter ms per datagram (reorders them). */
  jitterMs?: number;
  /** Drop everything (the host vanished). */
  down?: boolean;
  /** Sees every datagram leaving the host; returns the datagrams to send instead (tamper, drop, replay). */
  intercept?: (bytes: Uint8Array, to: Address) => Uint8Array[];
}

interface Event {
  time: number;
  seq: number;
  fn: () => void;
}

class Heap {
  private readonly items: Event[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Event | undefined {
    return this.items[0];
  }
  push(e: Event): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(a[p]!, a[i]!)) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): Event | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: Event, b: Event): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export interface VirtualHost {
  readonly udp: UdpNetwork;
  ip: string;
  link: LinkSpec;
  /** Moves the host to a new IP (Wi-Fi to cellular); its sockets keep their ports. */
  changeIp(ip: string): void;
  bytesSent: number;
}

export interface VirtualNet {
  readonly clock: Clock;
  host(ip: string, link?: LinkSpec): VirtualHost;
  /** Runs events until `promise` settles; throws if virtual time passes `limitMs` or nothing is left to run. */
  run<T>(promise: Promise<T>, limitMs?: number): Promise<T>;
  /** Runs events for `ms` of virtual time. */
  runFor(ms: number): Promise<void>;
  readonly delivered: { datagrams: number; bytes: number; dropped: number };
}

const yieldTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));
const yieldMacro = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function createVirtualNet(seed = 1): VirtualNet {
  let now = 1_000_000;
  let seq = 0;
  let nextTimerId = 1;
  const heap = new Heap();
  const cancelled = new Set<number>();
  const random: Random = createSeededRandom(seed);
  const sockets = new Map<string, { handlers: Set<DatagramHandler>; host: HostImpl; port: number }>();
  const delivered = { datagrams: 0, bytes: 0, dropped: 0 };

  const at = (time: number, fn: () => void): void => heap.push({ time, seq: seq++, fn });

  const clock: Clock = {
    now: () => now,
    setTimer(delayMs: number, callback: () => void): TimerHandle {
      const id = nextTimerId++;
      at(now + Math.max(0, delayMs), () => {
        if (cancelled.delete(id)) return;
        callback();
      });
      return { id };
    },
    clearTimer(handle: TimerHandle) {
      cancelled.add(handle.id);
    },
  };

  interface HostImpl extends VirtualHost {
    egressFreeAt: number;
    ports: Set<number>;
  }

  const key = (a: Address): string => `${a.host}:${a.port}`;

  function transmit(host: HostImpl, fromPort: number, to: Address, original: Uint8Array): void {
    const link = host.link;
    if (link.intercept) {
      for (const bytes of link.intercept(original.slice(), to)) send(host, fromPort, to, bytes);
      return;
    }
    send(host, fromPort, to, original);
  }

  function send(host: HostImpl, fromPort: number, to: Address, bytes: Uint8Array): void {
    const link = host.link;
    host.bytesSent += bytes.length;
    if (link.down) {
      delivered.dropped++;
      return;
    }
    let departure = now;
    if (link.rateBps !== undefined) {
      const start = Math.max(now, host.egressFreeAt);
      const backlogBytes = ((start - now) * link.rateBps) / 8000;
      if (backlogBytes + bytes.length > (link.queueBytes ?? 256 * 1024)) {
        delivered.dropped++;
        return;
      }
      departure = start + (bytes.length * 8000) / link.rateBps;
      host.egressFreeAt = departure;
    }
    if (link.loss && random.float() < link.loss) {
      delivered.dropped++;
      return;
    }
    const from: Address = { host: host.ip, port: fromPort };
    const copies = link.duplicate && random.float() < link.duplicate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const arrival = departure + (link.delayMs ?? 0) + (link.jitterMs ? random.float() * link.jitterMs : 0);
      const data = bytes.slice();
      at(arrival, () => {
        const target = sockets.get(key(to));
        if (!target) {
          delivered.dropped++;
          return;
        }
        delivered.datagrams++;
        delivered.bytes += data.length;
        for (const handler of target.handlers) handler(data, from);
      });
    }
  }

  function host(ip: string, link: LinkSpec = {}): VirtualHost {
    const h: HostImpl = {
      ip,
      link,
      bytesSent: 0,
      egressFreeAt: 0,
      ports: new Set(),
      changeIp(newIp: string) {
        for (const port of h.ports) {
          const entry = sockets.get(`${h.ip}:${port}`);
          if (!entry) continue;
          sockets.delete(`${h.ip}:${port}`);
          sockets.set(`${newIp}:${port}`, entry);
        }
        h.ip = newIp;
      },
      udp: {
        async bind(options = {}) {
          let port = options.port ?? 0;
          if (port === 0) {
            port = 40000;
            while (sockets.has(`${h.ip}:${port}`)) port++;
          }
          if (sockets.has(`${h.ip}:${port}`)) throw new Error(`port ${port} in use on ${h.ip}`);
          const handlers = new Set<DatagramHandler>();
          sockets.set(`${h.ip}:${port}`, { handlers, host: h, port });
          h.ports.add(port);
          const socket: UdpSocket = {
            localAddress: () => ({ host: h.ip, port }),
            send: (to, bytes) => transmit(h, port, to, bytes),
            onMessage(handler) {
              handlers.add(handler);
              return () => handlers.delete(handler);
            },
            async close() {
              sockets.delete(`${h.ip}:${port}`);
              h.ports.delete(port);
            },
          };
          return socket;
        },
      },
    };
    return h;
  }

  async function step(deadline: number): Promise<boolean> {
    const next = heap.peek();
    if (!next || next.time > deadline) return false;
    now = Math.max(now, next.time);
    // Run everything due at this instant, then let microtasks and nextTicks settle.
    while (heap.peek() !== undefined && heap.peek()!.time <= now) heap.pop()!.fn();
    return true;
  }

  async function run<T>(promise: Promise<T>, limitMs = 3_600_000): Promise<T> {
    let settled = false;
    promise.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    const deadline = now + limitMs;
    let steps = 0;
    for (;;) {
      await yieldTick();
      await yieldTick();
      if (settled) return promise;
      if (++steps % 2000 === 0) await yieldMacro();
      if (settled) return promise;
      if (!(await step(deadline))) {
        await yieldMacro();
        if (settled) return promise;
        if (heap.size === 0) throw new Error(`simulation idle at ${now} with the awaited promise pending`);
        throw new Error(`virtual time limit of ${limitMs} ms reached`);
      }
    }
  }

  async function runFor(ms: number): Promise<void> {
    const deadline = now + ms;
    let steps = 0;
    for (;;) {
      await yieldTick();
      await yieldTick();
      if (++steps % 2000 === 0) await yieldMacro();
      if (!(await step(deadline))) break;
    }
    now = Math.max(now, deadline);
    await yieldMacro();
  }

  return { clock, host, run, runFor, delivered };
}
