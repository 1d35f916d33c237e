import type { Command } from 'commander';
import { SwarmlaneError } from '../../runtime/index.ts';

// Placeholder until the component lands; it fails loudly instead of pretending to work.
export function registerNatCommands(program: Command): void {
  program
    .command('nat')
    .description('inspect NAT traversal (not yet available)')
    .allowUnknownOption()
    .action(() => {
      throw new SwarmlaneError('NOT_IMPLEMENTED', '"nat" is not implemented yet');
    });
}
