/**
 * A minimal PZ transport server/client for the transport-vs-TCP benchmark (bundled, run in namespaces).
 *   pz serve PORT SEED_HEX CONGESTION          prints "listening"; serves sized objects
 *   pz fetch HOST PORT PUB_HEX SIZE CONGESTION  one object of SIZE bytes as blocks; prints JSON
 *   pz small HOST PORT PUB_HEX CONGESTION      a 512-byte object two ways; prints JSON
 * An object request rides in the handshake INITIAL (its size), so the server starts sending as soon
 * as it has answered: one round trip before data, where TCP + TLS 1.3 + HTTP needs three.
 */
import type { Clock } from '../../../runtime/index.ts';
import { createNodeClock } from '../../../runtime/node/clock.ts';
import { createNodeLogger } from '../../../runtime/node/logger.ts';
import { createNodeRandom } from '../../../runtime/node/random.ts';
import { createNodeUdpNetwork } from '../../../runtime/node/udp.ts';
import { createEndpoint, keyPairFromSeed } from '../../../transport/index.ts';

const [mode, ...args] = process.argv.slice(2);
const SMALL = 512;
const BLOCK = 64 * 1024;

/** Byte i of every object: cheap to generate and to check, and not all zeros. */
export function patternByte(i: number): number {
  return (i * 31 + (i >>> 11)) & 0xff;
}

function pattern(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = patternByte(i);
  return out;
}

type Socket = Awaited<ReturnType<ReturnType<typeof createNodeUdpNetwork>['bind']>>;

/**
 * PZ_TRACE=1: the server prints one JSON line a second to stderr (datagrams sent, timer lateness,
 * the session's RTT / rate estimate / losses), to tell a path problem from a sender problem.
 */
const TRACE = process.env.PZ_TRACE === '1';
const trace = { sent: 0, timers: 0, lateMs: 0, maxLateMs: 0 };

function traced(socket: Socket, clock: Clock): { socket: Socket; clock: Clock } {
  if (!TRACE) return { socket, clock };
  return {
    socket: {
      ...socket,
      send(to, bytes) {
        trace.sent++;
        socket.send(to, bytes);
      },
    },
    clock: {
      now: () => clock.now(),
      clearTimer: (h) => clock.clearTimer(h),
      setTimer(delayMs, callback) {
        const due = performance.now() + delayMs;
        return clock.setTimer(delayMs, () => {
          const late = performance.now() - due;
          trace.timers++;
          trace.lateMs += late;
          trace.maxLateMs = Math.max(trace.maxLateMs, late);
          callback();
        });
      },
    },
  };
}

function components(raw: Socket) {
  const { socket, clock } = traced(raw, createNodeClock());
  return {
    socket,
    clock,
    random: createNodeRandom(),
    logger: createNodeLogger({ level: 'warn' }),
  };
}

type Congestion = 'bbr' | 'newreno';

async function serve(port: number, seedHex: string, congestion: Congestion): Promise<void> {
  const socket = await createNodeUdpNetwork().bind({ port });
  const keys = keyPairFromSeed(Buffer.from(seedHex, 'hex'));
  const small = pattern(SMALL);
  const objects = new Map<number, Uint8Array>();
  const endpoint = createEndpoint(
    {
      staticPrivateKey: keys.privateKey,
      congestion,
      ...(process.env.PZ_BLOCK_WINDOW ? { blockWindow: Number(process.env.PZ_BLOCK_WINDOW) } : {}),
      // The small object answers inside the handshake, like an edge's hello.
      onInit: (payload) => (new TextDecoder().decode(payload) === 'small' ? small : undefined),
    },
    components(socket),
  );
  endpoint.onConnection((c) => {
    c.onStream((s) => {
      s.once('data', () => s.end(Buffer.from(small)));
      s.on('error', () => {});
    });
    const size = Number(new TextDecoder().decode(c.initPayload ?? new Uint8Array()));
    if (!Number.isInteger(size) || size <= 0) return;
    let data = objects.get(size);
    if (!data) {
      data = pattern(size);
      objects.set(size, data);
    }
    const object = data;
    let offset = 0;
    const push = (): void => {
      while (offset < object.length) {
        const length = Math.min(BLOCK, object.length - offset);
        if (!c.sendBlock({ object: 1, offset, data: object.subarray(offset, offset + length) })) return;
        offset += length;
      }
    };
    c.onDrain(push);
    push();
    if (TRACE) {
      const start = performance.now();
      const tick = setInterval(() => {
        const st = c.stats();
        console.error(
          JSON.stringify({
            t: Math.round(performance.now() - start),
            offset,
            sent: trace.sent,
            timers: trace.timers,
            meanLateMs: +(trace.lateMs / Math.max(1, trace.timers)).toFixed(2),
            maxLateMs: +trace.maxLateMs.toFixed(1),
            rttMs: st.rttMs,
            minRttMs: st.minRttMs,
            rateMbps: +(st.deliveryRateBps / 1e6).toFixed(2),
            lost: st.packetsLost,
          }),
        );
        Object.assign(trace, { sent: 0, timers: 0, lateMs: 0, maxLateMs: 0 });
      }, 1000);
      tick.unref();
      c.onClose(() => clearInterval(tick));
    }
  });
  console.log('listening');
}

async function fetchObject(host: string, port: number, pubHex: string, size: number, congestion: Congestion) {
  const socket = await createNodeUdpNetwork().bind();
  const endpoint = createEndpoint(
    { staticPrivateKey: keyPairFromSeed(crypto.getRandomValues(new Uint8Array(32))).privateKey, congestion },
    components(socket),
  );
  const start = performance.now();
  let firstByteMs = 0;
  let received = 0;
  let ok = true;
  const seen = new Set<number>();
  const conn = await endpoint.connect({ host, port }, Buffer.from(pubHex, 'hex'), {
    initPayload: new TextEncoder().encode(String(size)),
    timeoutMs: 20_000,
  });
  await new Promise<void>((resolve) => {
    conn.onBlock((b) => {
      if (!firstByteMs) firstByteMs = performance.now() - start;
      if (seen.has(b.offset)) return;
      seen.add(b.offset);
      for (let i = 0; i < b.data.length; i += 997) if (b.data[i] !== patternByte(b.offset + i)) ok = false;
      received += b.data.length;
      if (received >= size) resolve();
    });
  });
  const ms = performance.now() - start;
  const stats = conn.stats();
  conn.close();
  await endpoint.close();
  return { ms, firstByteMs, bytes: received, ok: ok && received === size, packetsLost: stats.packetsLost };
}

async function small(host: string, port: number, pubHex: string, congestion: Congestion) {
  const socket = await createNodeUdpNetwork().bind();
  const endpoint = createEndpoint(
    { staticPrivateKey: keyPairFromSeed(crypto.getRandomValues(new Uint8Array(32))).privateKey, congestion },
    components(socket),
  );
  const remote = { host, port };
  const key = Buffer.from(pubHex, 'hex');
  // 1: the object in the handshake answer.
  let start = performance.now();
  const first = await endpoint.connect(remote, key, {
    initPayload: new TextEncoder().encode('small'),
    timeoutMs: 20_000,
  });
  const initReplyMs = performance.now() - start;
  const initOk = first.initReply?.length === SMALL;
  first.close();
  // 2: a fresh connection, then a request on a stream (handshake + one round trip).
  start = performance.now();
  const conn = await endpoint.connect(remote, key, { timeoutMs: 20_000 });
  const stream = conn.openStream();
  const streamFirstByteMs = await new Promise<number>((resolve, reject) => {
    stream.once('data', () => resolve(performance.now() - start));
    stream.once('error', reject);
    stream.write(Buffer.from('small'));
  });
  conn.close();
  await endpoint.close();
  return { initReplyMs, initOk, streamFirstByteMs };
}

async function main(): Promise<void> {
  const congestion = (args.at(-1) === 'newreno' ? 'newreno' : 'bbr') as Congestion;
  if (mode === 'serve') return serve(Number(args[0]), args[1] ?? '', congestion);
  if (mode === 'fetch') {
    console.log(
      JSON.stringify(
        await fetchObject(args[0] ?? '', Number(args[1]), args[2] ?? '', Number(args[3]), congestion),
      ),
    );
    process.exit(0);
  }
  if (mode === 'small') {
    console.log(JSON.stringify(await small(args[0] ?? '', Number(args[1]), args[2] ?? '', congestion)));
    process.exit(0);
  }
  throw new Error(`unknown pz mode ${mode}`);
}

void main();
