import type { Command } from 'commander';
import { SwarmlaneError } from '../../runtime/index.ts';

// Placeholder until the component lands; it fails loudly instead of pretending to work.
export function registerLabCommands(program: Command): void {
  program
    .command('lab')
    .description('run lab scenarios (not yet available)')
    .allowUnknownOption()
    .action(() => {
      throw new SwarmlaneError('NOT_IMPLEMENTED', '"lab" is not implemented yet');
    });
}
