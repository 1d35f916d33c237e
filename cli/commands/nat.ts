import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';
import {
  createStunServer,
  formatReport,
  parseIPv4,
  probeReachability,
  type StunServerSockets,
} from '../../nat/index.ts';
import { type Address, parseAddress, SwarmlaneError } from '../../runtime/index.ts';
import { createNodeEnv } from '../../runtime/node/index.ts';

interface ProbeFlags {
  stun?: string[];
  port: number;
  map: boolean;
  json?: boolean;
  gateway?: string;
  pcpUpstream?: string[];
  timeout: number;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port 0-65535');
  return n;
}

function parseMs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 100 || n > 60_000) throw new InvalidArgumentError('expected 100-60000 ms');
  return n;
}

function parseHostPort(value: string): string {
  try {
    parseAddress(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  return value;
}

async function resolveAddress(text: string): Promise<Address> {
  const { host, port } = parseAddress(text);
  if (parseIPv4(host)) return { host, port };
  try {
    const { address } = await lookup(host, { family: 4 });
    return { host: address, port };
  } catch {
    throw new SwarmlaneError('NAT_STUN_UNRESOLVED', `cannot resolve STUN server "${host}"`);
  }
}

/** The IPv4 default gateway from the kernel's routing table (Linux), or null. */
export function defaultGateway(routeTable?: string): { gateway: string; iface: string } | null {
  let text = routeTable;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/net/route', 'utf8');
    } catch {
      return null;
    }
  }
  for (const line of text.split('\n').slice(1)) {
    const [iface, destination, gateway, flags] = line.trim().split(/\s+/);
    if (!iface || destination !== '00000000' || !gateway || !flags || (Number.parseInt(flags, 16) & 2) === 0)
      continue;
    const n = Number.parseInt(gateway, 16); // little-endian hex
    return { gateway: [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.'), iface };
  }
  return null;
}

/** Non-loopback IPv4 interface addresses; the one on `iface` first (it faces the gateway). */
function lanHosts(iface?: string): string[] {
  const out: string[] = [];
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      if (name === iface) out.unshift(a.address);
      else out.push(a.address);
    }
  }
  return out;
}

async function runProbe(flags: ProbeFlags): Promise<void> {
  const stunText = flags.stun?.length
    ? flags.stun
    : (process.env.SWARMLANE_STUN ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  if (stunText.length === 0)
    throw new SwarmlaneError('NAT_NO_STUN', 'no STUN server: pass --stun HOST:PORT (or set SWARMLANE_STUN)');
  const stun = await Promise.all(stunText.map(resolveAddress));
  const env = createNodeEnv({ logger: { level: process.env.SWARMLANE_LOG ?? 'warn' } });
  const socket = await env.udp.bind({ port: flags.port }).catch((error: Error) => {
    throw new SwarmlaneError('NAT_BIND', `cannot bind UDP port ${flags.port}: ${error.message}`);
  });
  const port = socket.localAddress().port;
  const route = defaultGateway();
  const hosts = lanHosts(route?.iface);
  const gateway = flags.gateway ?? route?.gateway;
  const portMapping =
    flags.map && gateway && hosts[0]
      ? { gateway, internalHost: hosts[0], timeoutMs: flags.timeout, upstreamPcp: flags.pcpUpstream ?? [] }
      : null;
  const tty = process.stderr.isTTY && !flags.json;
  if (tty) process.stderr.write(`probing from UDP port ${port} via ${stun.length} STUN server(s)...\n`);
  let result: Awaited<ReturnType<typeof probeReachability>> | undefined;
  try {
    result = await probeReachability(
      { stun, lan: hosts.map((host) => ({ host, port })), portMapping, port, stunTimeoutMs: flags.timeout },
      { ...env, channel: socket },
    );
    const report = result.report;
    if (flags.map && !portMapping)
      report.errors.push('port mapping skipped: no default gateway found (pass --gateway IP)');
    if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stdout.write(`${formatReport(report)}\n`);
  } finally {
    // A probe must not leave a mapping behind on the field engineer's gateway.
    if (result?.mapper) {
      if (tty) process.stderr.write('releasing port mapping...\n');
      await result.mapper.stop();
    }
    await socket.close();
  }
}

interface StunServerFlags {
  listen: string;
  alternate?: string;
  partner?: string[];
}

async function runStunServer(flags: StunServerFlags): Promise<void> {
  const env = createNodeEnv({ logger: { level: process.env.SWARMLANE_LOG ?? 'info' } });
  const primary = parseAddress(flags.listen);
  const bind = async (a: Address) => {
    try {
      return { channel: await env.udp.bind(a), address: a };
    } catch (error) {
      throw new SwarmlaneError('NAT_BIND', `cannot bind ${a.host}:${a.port}: ${(error as Error).message}`);
    }
  };
  const sockets: StunServerSockets = { primary: await bind(primary) };
  if (flags.alternate) {
    const alt = parseAddress(flags.alternate);
    if (alt.host === primary.host || alt.port === primary.port)
      throw new SwarmlaneError('NAT_STUN_ALTERNATE', '--alternate needs a different IP and a different port');
    sockets.changePort = await bind({ host: primary.host, port: alt.port });
    sockets.changeIp = await bind({ host: alt.host, port: primary.port });
    sockets.changeBoth = await bind(alt);
  }
  const server = createStunServer(
    { software: 'swarmlane', partners: (flags.partner ?? []).map((p) => parseAddress(p)) },
    { sockets, logger: env.logger },
  );
  env.logger.info(
    { listen: flags.listen, alternate: flags.alternate ?? null },
    flags.alternate ? 'STUN server (RFC 5780) listening' : 'STUN server listening',
  );
  process.stdout.write(
    `stun server listening on ${flags.listen}${flags.alternate ? ` and ${flags.alternate}` : ''}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  server.close();
  await Promise.all(Object.values(sockets).map((s) => s.channel.close()));
}

export function registerNatCommands(program: Command): void {
  const nat = program.command('nat').description('NAT traversal: probe reachability, run a STUN server');
  nat
    .command('probe')
    .description(
      'classify this device’s NAT (STUN), try a port mapping (PCP, NAT-PMP, UPnP IGD) and print the reachability report',
    )
    .option(
      '--stun <host:port>',
      'STUN server; repeat for more (two on different IPs give the mapping class)',
      collect,
    )
    .option('--port <n>', 'local UDP port to probe from and map; 0 = any free port', parsePort, 0)
    .option('--no-map', 'do not try to create a port mapping')
    .option('--gateway <ip>', 'gateway for NAT-PMP/PCP (default: the default route)')
    .option('--pcp-upstream <ip>', 'PCP server beyond the home gateway (a CGN); repeatable', collect)
    .option('--timeout <ms>', 'budget per STUN/gateway exchange', parseMs, 1500)
    .option('--json', 'print the report as one JSON object')
    .action(async (flags: ProbeFlags) => runProbe(flags));
  nat
    .command('stun-server')
    .description('run a STUN server (RFC 8489 Binding; RFC 5780 CHANGE-REQUEST with --alternate)')
    .requiredOption('--listen <ip:port>', 'primary address', parseHostPort)
    .option('--alternate <ip:port>', 'second IP and port for RFC 5780 behaviour discovery', parseHostPort)
    .option(
      '--partner <ip:port>',
      'a cooperating STUN server on another IP that answers CHANGE-REQUESTs for us (repeatable)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), parseHostPort(value)],
    )
    .action(async (flags: StunServerFlags) => runStunServer(flags));
}
