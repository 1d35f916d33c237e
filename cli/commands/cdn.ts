import type { Command } from 'commander';
import { SwarmlaneError } from '../../runtime/index.ts';

// Placeholder until the component lands; it fails loudly instead of pretending to work.
export function registerCdnCommand(program: Command): void {
  program
    .command('cdn')
    .description('run the HTTP CDN/origin front (not yet available)')
    .allowUnknownOption()
    .action(() => {
      throw new SwarmlaneError('NOT_IMPLEMENTED', '"cdn" is not implemented yet');
    });
}
