import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabProcess, Namespace } from '../../../lab/netns/index.ts';
import type { ReachabilityReport } from '../../../nat/index.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

export interface Peer {
  proc: LabProcess;
  request<T = Record<string, unknown>>(
    command: Record<string, unknown>,
    event: string,
    timeoutMs?: number,
  ): Promise<T>;
}

/** Starts lab/netns/agents/nat-peer.ts in `ns` on UDP `port`. */
export async function startPeer(ns: Namespace, port: number): Promise<Peer> {
  const proc = ns.spawn(
    'node',
    ['--import', 'tsx', join(ROOT, 'lab/netns/agents/nat-peer.ts'), '--port', String(port)],
    {
      cwd: ROOT,
    },
  );
  await proc.waitForLine((l) => (l.includes('"ready"') ? true : undefined), 30_000);
  return {
    proc,
    async request<T>(command: Record<string, unknown>, event: string, timeoutMs = 20_000) {
      const waiting = proc.waitForLine((line) => {
        try {
          const parsed = JSON.parse(line) as { event?: string };
          return parsed.event === event || parsed.event === 'error' ? (parsed as T) : undefined;
        } catch {
          return undefined;
        }
      }, timeoutMs);
      proc.write(JSON.stringify(command));
      const answer = await waiting;
      if ((answer as { event?: string }).event === 'error')
        throw new Error(`peer error: ${(answer as { error?: string }).error}`);
      return answer;
    },
  };
}

export interface ProbeAnswer {
  report: ReachabilityReport;
  mapping: { protocol: string; external: { host: string; port: number }; leaseSec: number } | null;
}

export { candidatesFromReport as candidatesOf } from '../../../nat/index.ts';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sl-natlab-'));
}

export function writeFile(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

export async function startMiniupnpd(
  router: Namespace,
  dir: string,
  name: string,
  config: string,
): Promise<LabProcess> {
  const conf = writeFile(dir, `${name}.conf`, config);
  const proc = router.spawn('miniupnpd', ['-f', conf, '-d', '-P', join(dir, `${name}.pid`)]);
  // miniupnpd logs to stderr: poll the captured output.
  for (let i = 0; i < 100 && !proc.output().includes('Listening for NAT-PMP/PCP'); i++)
    await new Promise((r) => setTimeout(r, 100));
  if (!proc.output().includes('Listening for NAT-PMP/PCP'))
    throw new Error(`miniupnpd did not start:\n${proc.output().slice(-2000)}`);
  return proc;
}

export function mappingRules(ruleset: string, internal: string): string[] {
  return ruleset.split('\n').filter((l) => l.includes(`dnat ip to ${internal}`));
}
