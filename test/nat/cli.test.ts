import { Value } from '@sinclair/typebox/value';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultGateway, registerNatCommands } from '../../cli/commands/nat.ts';
import { createStunServer, ReachabilityReport } from '../../nat/index.ts';
import { createSilentLogger } from '../../runtime/index.ts';
import { createNodeUdpNetwork } from '../../runtime/node/index.ts';

// Loopback only, and always --no-map: a probe with mapping would talk to this machine's real gateway.
async function run(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerNatCommands(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'swarmlane', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

describe('swarmlane nat probe', () => {
  afterEach(() => vi.restoreAllMocks());

  it('--json prints one report object that matches the schema', async () => {
    const socket = await createNodeUdpNetwork().bind({ host: '127.0.0.1', port: 0 });
    const server = createStunServer(
      {},
      {
        sockets: { primary: { channel: socket, address: socket.localAddress() } },
        logger: createSilentLogger(),
      },
    );
    try {
      const out = await run([
        'nat',
        'probe',
        '--stun',
        `127.0.0.1:${socket.localAddress().port}`,
        '--no-map',
        '--json',
        '--timeout',
        '500',
      ]);
      const report = JSON.parse(out) as unknown;
      expect(Value.Check(ReachabilityReport, report)).toBe(true);
      expect(report).toMatchObject({ reflexive: { host: '127.0.0.1' }, portMapping: null });
    } finally {
      server.close();
      await socket.close();
    }
  });

  it('fails with a coded error when no STUN server is given', async () => {
    const saved = process.env.SWARMLANE_STUN;
    delete process.env.SWARMLANE_STUN;
    try {
      await expect(run(['nat', 'probe', '--no-map'])).rejects.toMatchObject({ code: 'NAT_NO_STUN' });
    } finally {
      if (saved !== undefined) process.env.SWARMLANE_STUN = saved;
    }
  });

  it('reads the default gateway from the kernel route table format', () => {
    const table =
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
      'eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' +
      'eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n';
    expect(defaultGateway(table)).toEqual({ gateway: '192.168.1.1', iface: 'eth0' });
    expect(defaultGateway('Iface\n')).toBeNull();
  });
});
