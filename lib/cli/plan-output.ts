import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SimHost } from '../sim/sim.js';
import { PLAN_MARKER } from './preflight.js';

/**
 * `--plan DIR`: per host, the final content of every file the run created
 * or changed under DIR/<host>/fs/<absolute path>, and DIR/<host>/commands.txt
 * with every command and API call in order (secrets masked there; files hold
 * the real values, as they would on the host).
 */
export async function writePlanOutput(dir: string, hosts: Iterable<SimHost>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, PLAN_MARKER), 'written by stackplay --plan: a later --plan may replace this directory\n');
  for (const sim of hosts) {
    const base = join(dir, sim.name);
    await rm(base, { recursive: true, force: true });
    await mkdir(join(base, 'fs'), { recursive: true });
    for (const path of [...sim.touched].sort()) {
      const entry = sim.files.get(path);
      if (entry?.type !== 'file') continue;
      const target = join(base, 'fs', path);
      await mkdir(join(target, '..'), { recursive: true });
      await writeFile(target, entry.content, { mode: 0o600 });
    }
    await writeFile(join(base, 'commands.txt'), sim.log.map((l) => `${l.replace(/\n/g, '\n  ')}\n`).join(''));
  }
}
