import { createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { generateKeyPair, KeyError, type KeyType, keyId } from '../../release/index.ts';

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
    .action((options: { out: string; type: KeyType }) => {
      const pair = generateKeyPair(options.type);
      const privatePath = `${options.out}.key`;
      const publicPath = `${options.out}.pub`;
      // 'wx' refuses to overwrite: replacing a signing key by accident would lock out every device.
      write(privatePath, pair.privatePem, 0o600);
      write(publicPath, pair.publicPem, 0o644);
      const id = options.type === 'ed25519' ? ` keyid ${keyId(createPublicKey(pair.publicPem))}` : '';
      process.stdout.write(`wrote ${privatePath} and ${publicPath} (${options.type}${id})\n`);
    });
}

function write(path: string, contents: string, mode: number): void {
  try {
    writeFileSync(path, contents, { mode, flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new KeyError('KEY_EXISTS', `${path} already exists; refusing to overwrite a key`);
    throw new KeyError('KEY_UNWRITABLE', `cannot write ${path} (${code ?? 'error'})`, { cause: error });
  }
}
