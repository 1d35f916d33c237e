/**
 * A NAT-traversal peer for namespace labs, driven by JSON lines on stdin; answers on stdout.
 * Run inside a namespace: `node --import tsx lab/netns/agents/nat-peer.ts --port 4000`.
 *
 *   {"cmd":"probe","stun":["11.0.0.100:3478"],"map":{"gateway":"192.168.1.1","internalHost":"192.168.1.2",
 *     "protocols":["upnp"],"leaseSec":4}}                  -> {"event":"probe","report":{...},"mapping":{...}|null}
 *   {"cmd":"binding","server":"11.0.0.100:3478"}            -> {"event":"binding","reflexive":{...}}
 *   {"cmd":"punch","session":"<16 hex>","local":[...],"remote":[...],"localMapping":..,"remoteMapping":..}
 *                                                           -> {"event":"punch","ok":true,"remote":{...},"elapsedMs":n}
 *   {"cmd":"unmap"}                                         -> {"event":"unmapped"}
 *   {"cmd":"state"}                                         -> {"event":"state","mapping":{...}|null,"renewals":n}
 */
import { createInterface } from 'node:readline';
import {
  createPuncher,
  createStunClient,
  type MappingBehaviour,
  type PortMapper,
  type PunchCandidate,
  probeReachability,
} from '../../../nat/index.ts';
import { parseAddress } from '../../../runtime/index.ts';
import { createNodeEnv } from '../../../runtime/node/index.ts';

const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;
const env = createNodeEnv({ logger: { level: process.env.SWARMLANE_LOG ?? 'warn' } });
const socket = await env.udp.bind({ port });
const puncher = createPuncher({}, { ...env, port: socket });
let mapper: PortMapper | null = null;
let renewals = 0;

const say = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`);
};

interface Command {
  cmd: string;
  stun?: string[];
  map?: {
    gateway: string;
    internalHost: string;
    protocols?: Array<'pcp' | 'nat-pmp' | 'upnp'>;
    leaseSec?: number;
    upstreamPcp?: string[];
  } | null;
  lan?: string[];
  stunTimeoutMs?: number;
  server?: string;
  session?: string;
  local?: PunchCandidate[];
  remote?: PunchCandidate[];
  localMapping?: MappingBehaviour;
  remoteMapping?: MappingBehaviour;
}

async function handle(c: Command): Promise<void> {
  switch (c.cmd) {
    case 'probe': {
      const lan = (c.lan ?? []).map((host) => ({ host, port: socket.localAddress().port }));
      const result = await probeReachability(
        {
          stun: (c.stun ?? []).map(parseAddress),
          lan,
          port: socket.localAddress().port,
          portMapping: c.map ? { timeoutMs: 3000, ...c.map } : null,
          ...(c.stunTimeoutMs ? { stunTimeoutMs: c.stunTimeoutMs } : {}),
        },
        { ...env, channel: socket },
      );
      mapper = result.mapper;
      renewals = 0;
      mapper?.onChange((state) => {
        if (state.mapping) renewals++;
      });
      say({ event: 'probe', report: result.report, mapping: mapper?.current().mapping ?? null });
      return;
    }
    case 'binding': {
      const client = createStunClient({}, { ...env, channel: socket });
      try {
        const r = await client.binding(parseAddress(c.server ?? ''), { timeoutMs: 3000, rtoMs: 250 });
        say({ event: 'binding', reflexive: r.reflexive, otherAddress: r.otherAddress ?? null });
      } finally {
        client.close();
      }
      return;
    }
    case 'punch': {
      try {
        const s = await puncher.punch({
          session: Uint8Array.from(Buffer.from(c.session ?? '', 'hex')),
          local: c.local ?? [],
          remote: c.remote ?? [],
          ...(c.localMapping ? { localMapping: c.localMapping } : {}),
          ...(c.remoteMapping ? { remoteMapping: c.remoteMapping } : {}),
        });
        say({
          event: 'punch',
          ok: true,
          remote: s.remote,
          via: s.via,
          elapsedMs: s.elapsedMs,
          rttMs: s.rttMs,
        });
      } catch (error) {
        say({ event: 'punch', ok: false, error: (error as Error).message, elapsedMs: null });
      }
      return;
    }
    case 'unmap':
      await mapper?.stop();
      mapper = null;
      say({ event: 'unmapped' });
      return;
    case 'state':
      say({ event: 'state', mapping: mapper?.current().mapping ?? null, renewals });
      return;
    default:
      say({ event: 'error', error: `unknown command ${c.cmd}` });
  }
}

const shutdown = async (): Promise<void> => {
  await mapper?.stop().catch(() => undefined);
  puncher.close();
  await socket.close();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());

say({ event: 'ready', port: socket.localAddress().port });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    await handle(JSON.parse(line) as Command);
  } catch (error) {
    say({ event: 'error', error: (error as Error).message });
  }
}
await shutdown();
