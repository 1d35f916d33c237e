import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const S3RVER_BIN = join(require.resolve('s3rver/package.json'), '..', 'bin', 's3rver.js');

/** s3rver's fixed credentials; anything else is refused with InvalidAccessKeyId / SignatureDoesNotMatch. */
export const S3RVER_ENV = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
};

export interface S3rverProcess {
  endpoint: string;
  directory: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a real s3rver process on a free loopback port with a temp directory and the given buckets. */
export async function startS3rver(buckets: string[]): Promise<S3rverProcess> {
  const directory = mkdtempSync(join(tmpdir(), 'swarmlane-s3rver-'));
  const args = [S3RVER_BIN, '-d', directory, '-a', '127.0.0.1', '-p', '0', '--silent'];
  for (const b of buckets) args.push('--configure-bucket', b);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = /listening on ([\d.]+):(\d+)/.exec(out);
      if (match) {
        child.stdout?.off('data', onData);
        resolve(`http://${match[1]}:${match[2]}`);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`s3rver exited early (${code}): ${out}`)));
    child.once('error', reject);
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    endpoint,
    directory,
    process: child,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
