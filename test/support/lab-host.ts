import path from 'node:path';
import { $ } from 'zx';
import { REPO_ROOT } from '../../lab/paths.js';
import { connectSsh } from '../../lib/transport/ssh.js';

/** Runs the lab CLI (lab/cli.ts) the way the Makefile does; its exit code and output (stderr merged in). */
export async function labCli(...args: string[]): Promise<{ code: number; out: string }> {
  const res = await $({ cwd: REPO_ROOT, quiet: true, nothrow: true })`${process.execPath} --import tsx lab/cli.ts ${args} 2>&1`;
  return { code: res.exitCode ?? -1, out: res.stdout };
}

/** Runs `script` on a lab host over SSH with the lab's key and known_hosts; its trimmed stdout. */
export async function onLabHost(address: string, script: string): Promise<string> {
  const t = await connectSsh({
    host: address,
    address,
    privateKeyPath: path.join(REPO_ROOT, '.lab/id_ed25519'),
    knownHostsPath: path.join(REPO_ROOT, '.lab/known_hosts'),
  });
  try {
    return (await t.exec(script)).stdout.trim();
  } finally {
    await t.close();
  }
}
