import { Command, CommanderError } from 'commander';
import { SwarmlaneError } from '../runtime/index.ts';

type Register = (program: Command) => void;

/**
 * Each top-level command and the module that registers it. Only the module of the command being run
 * is loaded (a component's dependencies — the AWS SDK, fastify, vega — cost memory and start-up time
 * that `publish` and `agent` on a small device should not pay); `--help` loads them all.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  keys: async () => (await import('./commands/keys.ts')).registerKeysCommand,
  publish: async () => (await import('./commands/publish.ts')).registerPublishCommand,
  verify: async () => (await import('./commands/verify.ts')).registerVerifyCommand,
  tracker: async () => (await import('./commands/tracker.ts')).registerTrackerCommand,
  edge: async () => (await import('./commands/edge.ts')).registerEdgeCommand,
  cdn: async () => (await import('./commands/cdn.ts')).registerCdnCommand,
  agent: async () => (await import('./commands/agent.ts')).registerAgentCommands,
  nat: async () => (await import('./commands/nat.ts')).registerNatCommands,
  lab: async () => (await import('./commands/lab.ts')).registerLabCommands,
};

const program = new Command()
  .name('swarmlane')
  .description('Peer-assisted over-the-air update distribution: publish once, let the fleet serve itself.')
  .version('0.1.0')
  .enablePositionalOptions()
  .showHelpAfterError()
  .exitOverride();

const requested = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const toLoad = requested !== undefined && requested in COMMANDS ? [requested] : Object.keys(COMMANDS);
for (const name of toLoad) (await COMMANDS[name]!())(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportFailure(error);
}

/** One clear line on stderr and a non-zero exit code: 2 for usage errors, 1 for everything else. */
function reportFailure(error: unknown): number {
  if (error instanceof CommanderError) {
    // commander already printed the message (and help for usage errors).
    return error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof SwarmlaneError) {
    process.stderr.write(`swarmlane: ${error.message} [${error.code}]\n`);
    return 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`swarmlane: unexpected error: ${message}\n`);
  if (process.env.SWARMLANE_DEBUG) console.error(error);
  return 1;
}
