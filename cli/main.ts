import { Command, CommanderError } from 'commander';
import { SwarmlaneError } from '../runtime/index.ts';
import { registerAgentCommands } from './commands/agent.ts';
import { registerCdnCommand } from './commands/cdn.ts';
import { registerEdgeCommand } from './commands/edge.ts';
import { registerKeysCommand } from './commands/keys.ts';
import { registerLabCommands } from './commands/lab.ts';
import { registerNatCommands } from './commands/nat.ts';
import { registerPublishCommand } from './commands/publish.ts';
import { registerTrackerCommand } from './commands/tracker.ts';
import { registerVerifyCommand } from './commands/verify.ts';

const program = new Command()
  .name('swarmlane')
  .description('Peer-assisted over-the-air update distribution: publish once, let the fleet serve itself.')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerKeysCommand(program);
registerPublishCommand(program);
registerVerifyCommand(program);
registerTrackerCommand(program);
registerEdgeCommand(program);
registerCdnCommand(program);
registerAgentCommands(program);
registerNatCommands(program);
registerLabCommands(program);

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
