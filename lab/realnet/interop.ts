/**
 * Interop on the real kernel: stock aria2c trades pieces with swarmlane agents over the TCP
 * BitTorrent wire. All devices but the last run a real agent (the swarmlane strategy's config, TCP
 * wire on) until each has verified the release and seeds; then the last device runs aria2c on the
 * release's .torrent (our tracker's standard announce, the CDN as BEP 19 web seed). Where aria2c's
 * bytes came from is read from the CDN's own per-client billing report (aria2c keeps no per-source
 * counters): what the CDN did not send it, peers did; the agents' upload counters say the same.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasBinary, netnsSupport } from '../netns/index.ts';
import type { Scenario } from '../scenario/schema.ts';
import { RealnetError } from './errors.ts';
import { startInfra } from './infra.ts';
import { parseDone, startAgent, startAria2 } from './run.ts';
import { openRealnetSession, prepareRealnetArtifacts } from './session.ts';
import { agentTcpPort, buildRealTopology } from './topology.ts';

/** The interop scenario shipped with the lab (two seeding agents, one aria2c device, a slow CDN). */
export const INTEROP_SCENARIO = join(import.meta.dirname, 'scenarios', 'interop.yaml');

export interface InteropResult {
  runId: string;
  releaseBytes: number;
  agents: Array<{ name: string; ip: string; exact: boolean; uploaded: number; seconds: number }>;
  aria2: {
    ip: string;
    exact: boolean;
    seconds: number;
    /** Bytes the CDN billed to aria2c's address. */
    cdnBytes: number;
    /** releaseBytes - cdnBytes: what aria2c got from the agents (it has no other source). */
    peerBytes: number;
    /** Piece messages (blocks) aria2c logged as received from an agent's address, and their bytes. */
    blocksFromAgents: number;
    bytesFromAgents: number;
  };
  /** A sample of aria2c's log lines about the agents (handshakes, pieces). */
  aria2PeerLog: string[];
}

export async function runInterop(
  scenario: Scenario,
  options: { workDir?: string; deadlineSeconds?: number } = {},
): Promise<InteropResult> {
  const support = netnsSupport();
  if (!support.ok) throw new RealnetError('NETNS_UNSUPPORTED', support.reason);
  for (const bin of ['nft', 'tc', 'gcc', 'curl', 'aria2c'])
    if (!hasBinary(bin)) throw new RealnetError('NETNS_UNSUPPORTED', `${bin} is not installed`);
  const deadlineMs = (options.deadlineSeconds ?? scenario.deadlineSeconds) * 1000;
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'sl-netns-interop-'));
  mkdirSync(workDir, { recursive: true });
  const session = await openRealnetSession();
  const { lab } = session;
  try {
    const { release, cli, device } = await prepareRealnetArtifacts(scenario, workDir);
    const topology = await buildRealTopology(lab, scenario, { workDir });
    const seeders = topology.devices.slice(0, -1);
    const client = topology.devices.at(-1);
    if (!client || seeders.length === 0)
      throw new RealnetError('TOPOLOGY_TOO_SMALL', 'interop needs at least two devices');
    const infra = await startInfra(topology.inet, {
      cli,
      dir: join(workDir, 'infra'),
      release,
      tracker: true,
      edges: [],
      prefixes: topology.prefixes,
      cdnCapacityMbps: scenario.cdn.capacityMbps,
    });
    const ctx = { scenario, strategy: 'swarmlane' as const, release, device };
    const agentProcs = seeders.map((d) => {
      const stateDir = join(workDir, d.name);
      mkdirSync(stateDir, { recursive: true });
      return { d, proc: startAgent(ctx, d, stateDir, infra, { tcpWire: true }), started: Date.now() };
    });
    const agents = await Promise.all(
      agentProcs.map(async ({ d, proc, started }) => {
        const done = await proc.waitForLine((l) => parseDone(l, 'swarmlane'), deadlineMs);
        if (done.error) throw new RealnetError('PROCESS_FAILED', `agent ${d.name}: ${done.error}`);
        const sum = await d.ns.exec('sha256sum', [done.path ?? '']).catch(() => '');
        return {
          name: d.name,
          ip: d.ip,
          exact: sum.split(/\s+/)[0] === release.sha256,
          uploaded: 0,
          seconds: (Date.now() - started) / 1000,
        };
      }),
    );
    const ariaDir = join(workDir, client.name);
    mkdirSync(ariaDir, { recursive: true });
    const ariaLog = join(ariaDir, 'aria2.log');
    const started = Date.now();
    const aria = startAria2(client, ariaDir, release, [`--log=${ariaLog}`, '--log-level=info']);
    const ariaDone = await aria.waitForLine((l) => parseDone(l, 'plain-bittorrent'), deadlineMs);
    const seconds = (Date.now() - started) / 1000;
    if (ariaDone.error) throw new RealnetError('PROCESS_FAILED', `aria2c: ${ariaDone.error}`);
    const ariaSum = await client.ns.exec('sha256sum', [ariaDone.path ?? '']).catch(() => '');
    await aria.stop(2000);
    // Agents report what they uploaded on SIGTERM.
    await Promise.all(
      agentProcs.map(async ({ proc }, i) => {
        const stopped = proc.waitForLine((l) => {
          if (!l.startsWith('{')) return undefined;
          const o = JSON.parse(l) as { event?: string; uploaded?: number };
          return o.event === 'stopped' ? (o.uploaded ?? 0) : undefined;
        }, 5000);
        proc.child.kill('SIGTERM');
        agents[i]!.uploaded = await stopped.catch(() => 0);
        await proc.stop(2000);
      }),
    );
    const { cdnClients } = await infra.stop();
    const ariaCdn = cdnClients[client.ip] ?? 0;
    const agentAddresses = seeders.map((d) => `${d.ip}:${agentTcpPort(d.index)}`);
    const log = await client.ns.exec('cat', [ariaLog]).catch(() => '');
    const aboutAgents = log.split('\n').filter((l) => agentAddresses.some((a) => l.includes(`From: ${a} `)));
    let blocksFromAgents = 0;
    let bytesFromAgents = 0;
    for (const line of aboutAgents) {
      const piece = / piece index=\d+, begin=\d+, length=(\d+)/.exec(line);
      if (!piece) continue;
      blocksFromAgents++;
      bytesFromAgents += Number(piece[1]);
    }
    const aria2PeerLog = [
      ...aboutAgents.filter((l) => l.includes('handshake')).slice(0, 2),
      ...aboutAgents.filter((l) => l.includes(' piece ')).slice(0, 3),
    ];
    return {
      runId: lab.runId,
      releaseBytes: release.size,
      agents,
      aria2: {
        ip: client.ip,
        exact: ariaSum.split(/\s+/)[0] === release.sha256,
        seconds,
        cdnBytes: ariaCdn,
        peerBytes: Math.max(0, release.size - ariaCdn),
        blocksFromAgents,
        bytesFromAgents,
      },
      aria2PeerLog,
    };
  } finally {
    await session.close();
    if (options.workDir === undefined) rmSync(workDir, { recursive: true, force: true });
  }
}
