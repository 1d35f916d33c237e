import type { Command } from 'commander';
import { SwarmlaneError } from '../../runtime/index.ts';

// Placeholder until the component lands; it fails loudly instead of pretending to work.
export function registerKeysCommand(program: Command): void {
  program
    .command('keys')
    .description('manage signing and transport keys (not yet available)')
    .allowUnknownOption()
    .action(() => {
      throw new SwarmlaneError('NOT_IMPLEMENTED', '"keys" is not implemented yet');
    });
}
