/**
 * A small library for real-kernel labs in Linux network namespaces: namespaces, veth pairs, bridges,
 * addresses, routes, nftables rulesets, processes inside a namespace, and teardown that always runs.
 *
 * Every namespace is named `sl-<runId>-<name>`; a registry file per run (/run/swarmlane-netns/<runId>)
 * holds the owning pid, so a later run can remove namespaces whose owner died (a crashed test) without
 * touching a concurrent run's. Lab networks never get a link to the host namespace: nothing a lab
 * sends can leave the machine, which is what makes "public-looking" lab addresses safe.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SwarmlaneError } from '../../runtime/index.ts';

const run = promisify(execFile);
const REGISTRY = '/run/swarmlane-netns';
const PREFIX = 'sl-';

export class NetnsError extends SwarmlaneError {
  constructor(message: string) {
    super('NETNS_COMMAND_FAILED', message);
  }
}

/** Whether this machine can run namespace labs: root and iproute2 present. */
export function netnsSupport(): { ok: true } | { ok: false; reason: string } {
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return { ok: false, reason: 'network-namespace tests need root' };
  if (!['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some((p) => existsSync(p)))
    return { ok: false, reason: 'iproute2 (`ip`) is not installed' };
  return { ok: true };
}

/** Whether a binary is on PATH (miniupnpd, turnserver, nft). */
export function hasBinary(name: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((dir) => existsSync(join(dir, name)));
}

async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  if (input === undefined) {
    try {
      const { stdout } = await run(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new NetnsError(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
    }
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(new NetnsError(`${cmd} ${args.join(' ')}: ${err.trim() || `exit ${code}`}`)),
    );
    child.stdin.end(input);
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function listNamespaces(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

async function killNamespacePids(name: string): Promise<void> {
  const pids = (await sh('ip', ['netns', 'pids', name]).catch(() => ''))
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function deleteNamespace(name: string): Promise<void> {
  await killNamespacePids(name);
  await sh('ip', ['netns', 'del', name]).catch(() => undefined);
}

/**
 * Removes namespaces (and the processes in them) left by runs whose owning process is gone: a run
 * registers its pid before creating anything and unregisters only after deleting everything, so a
 * registry entry with a dead pid marks exactly the leftovers of a crashed run. Namespaces of live
 * runs, and namespaces this library did not create (no registry entry), are left alone.
 */
export async function cleanupStaleNamespaces(): Promise<string[]> {
  const removed: string[] = [];
  const dead = new Set<string>();
  if (existsSync(REGISTRY)) {
    for (const runId of readdirSync(REGISTRY)) {
      const pid = Number(readFileSync(join(REGISTRY, runId), 'utf8'));
      if (!(Number.isInteger(pid) && pid > 0 && pidAlive(pid))) dead.add(runId);
    }
  }
  if (dead.size === 0) return removed;
  for (const name of await listNamespaces()) {
    const match = /^sl-([0-9a-z]+)-/.exec(name);
    if (!match || !dead.has(match[1]!)) continue;
    await deleteNamespace(name);
    removed.push(name);
  }
  for (const runId of dead) rmSync(join(REGISTRY, runId), { force: true });
  return removed;
}

export interface LabProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout + stderr), for failure messages. */
  output(): string;
  /** Resolves with the first stdout line for which `match` returns a value. */
  waitForLine<T>(match: (line: string) => T | undefined, timeoutMs: number): Promise<T>;
  write(line: string): void;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface Namespace {
  readonly name: string;
  exec(cmd: string, args: string[], input?: string): Promise<string>;
  addAddress(ifname: string, cidr: string): Promise<void>;
  up(ifname: string): Promise<void>;
  defaultRoute(via: string): Promise<void>;
  sysctl(key: string, value: string): Promise<void>;
  /** Loads an nftables ruleset (`nft -f -`). */
  nft(ruleset: string): Promise<void>;
  ruleset(): Promise<string>;
  spawn(cmd: string, args: string[], options?: { env?: NodeJS.ProcessEnv; cwd?: string }): LabProcess;
}

export interface NetnsLab {
  readonly runId: string;
  namespace(name: string): Promise<Namespace>;
  /** A veth pair with one end in each namespace. */
  veth(a: Namespace, aIf: string, b: Namespace, bIf: string): Promise<void>;
  /** A bridge in `ns` with the given interfaces enslaved: a switch. */
  bridge(ns: Namespace, name: string, ports: string[]): Promise<void>;
  /** Stops every process and deletes every namespace of this run. Safe to call twice. */
  teardown(): Promise<void>;
}

export async function createNetnsLab(options: { runId?: string } = {}): Promise<NetnsLab> {
  const runId = options.runId ?? randomBytes(3).toString('hex');
  if (!/^[0-9a-z]{1,8}$/.test(runId)) throw new NetnsError(`invalid run id "${runId}"`);
  await cleanupStaleNamespaces();
  mkdirSync(REGISTRY, { recursive: true });
  writeFileSync(join(REGISTRY, runId), String(process.pid));
  const namespaces: Namespace[] = [];
  const processes = new Set<LabProcess>();

  const makeNamespace = (name: string): Namespace => {
    const exec = (cmd: string, args: string[], input?: string) =>
      sh('ip', ['netns', 'exec', name, cmd, ...args], input);
    return {
      name,
      exec,
      addAddress: async (ifname, cidr) => {
        await sh('ip', ['-n', name, 'addr', 'add', cidr, 'dev', ifname]);
      },
      up: async (ifname) => {
        await sh('ip', ['-n', name, 'link', 'set', ifname, 'up']);
      },
      defaultRoute: async (via) => {
        await sh('ip', ['-n', name, 'route', 'add', 'default', 'via', via]);
      },
      sysctl: async (key, value) => {
        await exec('sysctl', ['-q', '-w', `${key}=${value}`]);
      },
      nft: async (ruleset) => {
        await exec('nft', ['-f', '-'], ruleset);
      },
      ruleset: () => exec('nft', ['list', 'ruleset']),
      spawn(cmd, args, spawnOptions = {}) {
        const child = spawn('ip', ['netns', 'exec', name, cmd, ...args], {
          stdio: ['pipe', 'pipe', 'pipe'],
          env: spawnOptions.env ?? process.env,
          cwd: spawnOptions.cwd,
        });
        let output = '';
        let pending = '';
        const lineWaiters = new Set<(line: string) => void>();
        child.stdout!.on('data', (d: Buffer) => {
          output += d.toString();
          pending += d.toString();
          let nl = pending.indexOf('\n');
          while (nl >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            for (const w of [...lineWaiters]) w(line);
            nl = pending.indexOf('\n');
          }
        });
        child.stderr!.on('data', (d: Buffer) => {
          output += d.toString();
          if (output.length > 1_000_000) output = output.slice(-500_000);
        });
        child.stdin!.on('error', () => {});
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        const proc: LabProcess = {
          pid: child.pid ?? -1,
          child,
          output: () => output,
          write: (line) => {
            child.stdin!.write(`${line}\n`);
          },
          waitForLine(match, timeoutMs) {
            return new Promise((resolve, reject) => {
              const check = (line: string): boolean => {
                const value = match(line);
                if (value === undefined) return false;
                cleanup();
                resolve(value);
                return true;
              };
              const onExit = () => {
                cleanup();
                reject(
                  new NetnsError(
                    `${cmd} in ${name} exited before the expected line; output:\n${output.slice(-2000)}`,
                  ),
                );
              };
              const timer = setTimeout(() => {
                cleanup();
                reject(
                  new NetnsError(
                    `${cmd} in ${name}: no expected line within ${timeoutMs} ms; output:\n${output.slice(-2000)}`,
                  ),
                );
              }, timeoutMs);
              const cleanup = () => {
                clearTimeout(timer);
                lineWaiters.delete(waiter);
                child.off('exit', onExit);
              };
              const waiter = (line: string) => {
                check(line);
              };
              // Lines are consumed: a waiter sees only lines that arrive after it (plus none before).
              lineWaiters.add(waiter);
              child.once('exit', onExit);
              if (child.exitCode !== null) onExit();
            });
          },
          async stop(graceMs = 2000) {
            processes.delete(proc);
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
            await exited;
            clearTimeout(timer);
          },
        };
        processes.add(proc);
        return proc;
      },
    };
  };

  let tornDown = false;
  return {
    runId,
    async namespace(short) {
      if (!/^[a-z0-9-]{1,12}$/.test(short)) throw new NetnsError(`invalid namespace name "${short}"`);
      const name = `${PREFIX}${runId}-${short}`;
      await sh('ip', ['netns', 'add', name]);
      const ns = makeNamespace(name);
      namespaces.push(ns);
      await ns.up('lo');
      return ns;
    },
    async veth(a, aIf, b, bIf) {
      // Created directly inside the namespaces: nothing ever appears in the host's namespace.
      await sh('ip', [
        '-n',
        a.name,
        'link',
        'add',
        aIf,
        'type',
        'veth',
        'peer',
        'name',
        bIf,
        'netns',
        b.name,
      ]);
      await a.up(aIf);
      await b.up(bIf);
    },
    async bridge(ns, name, ports) {
      await sh('ip', ['-n', ns.name, 'link', 'add', name, 'type', 'bridge']);
      for (const port of ports) await sh('ip', ['-n', ns.name, 'link', 'set', port, 'master', name]);
      await ns.up(name);
    },
    async teardown() {
      if (tornDown) return;
      tornDown = true;
      await Promise.allSettled([...processes].map((p) => p.stop(500)));
      for (const ns of namespaces.reverse()) await deleteNamespace(ns.name);
      rmSync(join(REGISTRY, runId), { force: true });
    },
  };
}
