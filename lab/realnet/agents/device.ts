/**
 * One lab device: the real agent (agent/index.ts) on the real network stack of its namespace.
 * It is `swarmlane agent fetch --config FILE --json` plus seeding: like the simulated lab it fetches
 * with `seed: true` and keeps serving peers after it has verified the release, until SIGTERM.
 *   device CONFIG_FILE PRODUCT CHANNEL
 * stdout, one JSON object per line:
 *   {"event":"done","summary":FetchSummary,"wallMs":n} | {"event":"error","message":"..."}
 *   {"event":"stopped","uploaded":n}   (after SIGTERM)
 *   {"event":"trace","cpuMs":n,"loopMaxMs":n,"loopMeanMs":n}   (each second, with SWARMLANE_LAB_AGENT_TRACE=1)
 * The trace shows whether a device process keeps up on a loaded machine: CPU it used in the last
 * second and how late its event loop ran (a late loop reads datagrams late, which peers see as RTT).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createAgent, loadAgentConfig } from '../../../agent/index.ts';
import { createNodeEnv, createNodeTcpNetwork } from '../../../runtime/node/index.ts';

const [configPath, product, channel] = process.argv.slice(2);
const config = loadAgentConfig(configPath ?? '');
const env = createNodeEnv({ logger: { level: process.env.SWARMLANE_LAB_AGENT_LOG ?? 'warn' } });
// TCP as the CLI wires it: the BitTorrent wire for standard clients runs when the config sets tcpPort.
// SWARMLANE_LAB_AGENT_TCP=0 leaves it out (PZ only), to compare.
const withTcp = process.env.SWARMLANE_LAB_AGENT_TCP !== '0';
const agent = createAgent(config, {
  ...env,
  ...(withTcp ? { tcp: createNodeTcpNetwork() } : {}),
  logger: env.logger.child({ component: 'agent' }),
});
const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  const uploaded = agent.uploaded();
  await agent.stop('lab run over').catch(() => undefined);
  say({ event: 'stopped', uploaded });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

if (process.env.SWARMLANE_LAB_AGENT_TRACE === '1') {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let cpu = process.cpuUsage();
  setInterval(() => {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    say({
      event: 'trace',
      cpuMs: Math.round((used.user + used.system) / 1000),
      loopMaxMs: Math.round(loop.max / 1e6),
      loopMeanMs: Math.round(loop.mean / 1e6),
    });
    loop.reset();
  }, 1000).unref();
}

const started = performance.now();
agent.fetch({ product: product ?? '', channel: channel ?? 'stable' }, { seed: true }).then(
  (summary) => say({ event: 'done', summary, wallMs: performance.now() - started }),
  (error: unknown) =>
    say({ event: 'error', message: error instanceof Error ? error.message : String(error) }),
);
