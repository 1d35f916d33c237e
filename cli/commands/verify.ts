import type { Command } from 'commander';
import { SwarmlaneError } from '../../runtime/index.ts';

// Placeholder until the component lands; it fails loudly instead of pretending to work.
export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description('verify a published release (not yet available)')
    .allowUnknownOption()
    .action(() => {
      throw new SwarmlaneError('NOT_IMPLEMENTED', '"verify" is not implemented yet');
    });
}
