import path from 'node:path';
import { REPO_ROOT } from '../../lab/paths.js';
import { connectSsh } from '../../lib/transport/ssh.js';

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
