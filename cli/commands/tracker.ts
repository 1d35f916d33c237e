import type { Command } from 'commander';
import { SwarmlaneError } from '../../runtime/index.ts';

// Placeholder until the component lands; it fails loudly instead of pretending to work.
export function registerTrackerCommand(program: Command): void {
  program
    .command('tracker')
    .description('run the tracker (not yet available)')
    .allowUnknownOption()
    .action(() => {
      throw new SwarmlaneError('NOT_IMPLEMENTED', '"tracker" is not implemented yet');
    });
}
