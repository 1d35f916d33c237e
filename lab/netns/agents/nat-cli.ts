/**
 * `swarmlane nat ...` without the rest of the CLI, for namespace labs: the same command code
 * (cli/commands/nat.ts), exit codes and error lines as cli/main.ts.
 */
import { Command, CommanderError } from 'commander';
import { registerNatCommands } from '../../../cli/commands/nat.ts';
import { SwarmlaneError } from '../../../runtime/index.ts';

const program = new Command().name('swarmlane').exitOverride();
registerNatCommands(program);
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exitCode = error.exitCode === 0 ? 0 : 2;
  else if (error instanceof SwarmlaneError) {
    process.stderr.write(`swarmlane: ${error.message} [${error.code}]\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`swarmlane: unexpected error: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
