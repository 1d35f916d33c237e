import type { Command } from 'commander';
import { SwarmlaneError } from '../../runtime/index.ts';

// Placeholder until the component lands; it fails loudly instead of pretending to work.
export function registerPublishCommand(program: Command): void {
  program
    .command('publish')
    .description('publish a release to a store (not yet available)')
    .allowUnknownOption()
    .action(() => {
      throw new SwarmlaneError('NOT_IMPLEMENTED', '"publish" is not implemented yet');
    });
}
