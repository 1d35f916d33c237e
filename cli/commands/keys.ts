import { createPublicKey } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import type { KeyType } from '../../release/index.ts';
import type { SwarmlaneError } from '../../runtime/index.ts';

type KeyErrorClass = new (code: string, message: string, options?: { cause?: unknown }) => SwarmlaneError;

/** `swarmlane keys generate --out NAME [--type ed25519|x25519]`. */
export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('manage release signing keys and transport keys');
  keys
    .command('generate')
    .description('write NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM)')
    .requiredOption('--out <name>', 'path prefix of the key files')
    .addOption(
      new Option('--type <type>', 'ed25519 signs releases; x25519 is an edge/tracker transport key')
        .choices(['ed25519', 'x25519'])
        .default('ed25519'),
    )
    .action(async (options: { out: string; type: KeyType }) => {
      const { generateKeyPair, keyId, KeyError } = await import('../../release/index.ts');
      const pair = generateKeyPair(options.type);
      const privatePath = `${options.out}.key`;
      const publicPath = `${options.out}.pub`;
      // Never overwrite: replacing a signing key by accident would lock out every device. Both paths are
      // checked first so a refusal leaves no half-written pair; 'wx' below closes the remaining race.
      for (const path of [privatePath, publicPath])
        if (existsSync(path))
          throw new KeyError('KEY_EXISTS', `${path} already exists; refusing to overwrite a key`);
      write(privatePath, pair.privatePem, 0o600, KeyError);
      write(publicPath, pair.publicPem, 0o644, KeyError);
      const id = options.type === 'ed25519' ? ` keyid ${keyId(createPublicKey(pair.publicPem))}` : '';
      process.stdout.write(`wrote ${privatePath} and ${publicPath} (${options.type}${id})\n`);
    });
}

function write(path: string, contents: string, mode: number, KeyError: KeyErrorClass): void {
  try {
    writeFileSync(path, contents, { mode, flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new KeyError('KEY_EXISTS', `${path} already exists; refusing to overwrite a key`);
    throw new KeyError('KEY_UNWRITABLE', `cannot write ${path} (${code ?? 'error'})`, { cause: error });
  }
}
