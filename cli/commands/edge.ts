import type { Command } from 'commander';
import { EdgeError } from '../../edge/index.ts';
import { type Address, AddressParseError, parseAddress } from '../../runtime/index.ts';

/** `HOST:PORT` flag -> Address, as a CONFIG_INVALID error the CLI prints in one line. */
export function parseListen(input: string): Address {
  try {
    return parseAddress(input);
  } catch (error) {
    if (error instanceof AddressParseError) throw new EdgeError('CONFIG_INVALID', error.message);
    throw error;
  }
}

// Placeholder until the edge server lands; it fails loudly instead of pretending to work.
export function registerEdgeCommand(program: Command): void {
  program
    .command('edge')
    .description('run an edge server (not yet available)')
    .allowUnknownOption()
    .action(() => {
      throw new EdgeError('NOT_IMPLEMENTED', '"edge" is not implemented yet');
    });
}
