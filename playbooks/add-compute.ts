import { checkInput, takeOption } from '../lib/cli/argv.js';
import { isMain, parseCli, runPlaybook, type CliIo } from '../lib/cli/cli.js';
import { InputError } from '../lib/core/errors.js';
import type { Play } from '../lib/core/playbook.js';
import { loadInventory, selectHosts, type Inventory } from '../lib/inventory/inventory.js';
import { openstackPlaybook } from '../openstack/playbook.js';
import { hostsFile } from '../roles/common/index.js';
import { novaDiscoverHosts } from '../roles/nova/index.js';
import { cloudPlays, sitePlays } from './site.js';

/**
 * Day-2: bring new compute hosts into a running cloud (issue 17; seed 002's
 * add-compute path, openstack-ansible's add-compute.sh):
 *
 *   add the host to [compute] in the inventory, then
 *   npx tsx playbooks/add-compute.ts -i hosts/lab.ini -l compute2
 *
 * `-l` names the new hosts. They get the whole site (prechecks, basics, the
 * compute roles); every other node gets only the new /etc/hosts entries;
 * the controller maps the new hosts into the cell (Zed). Nothing else runs
 * anywhere: the existing computes' services, configuration and the
 * controller's services are not touched.
 */
export function addComputePlays(inventory: Inventory, newHosts: readonly string[]): Play[] {
  const only = (play: Play): Play[] => {
    let hosts: string[];
    try {
      hosts = selectHosts(inventory, play.hosts).filter((h) => newHosts.includes(h));
    } catch {
      hosts = [];
    }
    return hosts.length > 0 ? [{ ...play, hosts: hosts.join(',') }] : [];
  };
  const others = [...inventory.hosts.keys()].filter((h) => !newHosts.includes(h));
  const basics = sitePlays.filter((p) => !cloudPlays().some((c) => c.name === p.name));
  return [
    ...basics.flatMap(only),
    ...(others.length > 0 ? [{ name: 'add-compute: every other node resolves the new hosts', hosts: others.join(','), roles: [hostsFile] }] : []),
    ...cloudPlays().flatMap(only),
    { name: 'add-compute: map the new hosts into the cell (Zed cells v2)', hosts: 'controller', roles: [novaDiscoverHosts] },
  ];
}

/** The new hosts `-l` names: each must be in the inventory's compute group. */
function newComputeHosts(inventory: Inventory, pattern: string): string[] {
  const hosts = selectHosts(inventory, pattern, { file: '--limit', line: 0 });
  const computes = inventory.groups.has('compute') ? inventory.groupHosts('compute') : [];
  const strays = hosts.filter((h) => !computes.includes(h));
  if (strays.length > 0) throw new InputError('--limit', 0, `${strays.join(', ')} not in the compute group: add-compute brings in compute hosts only`);
  return hosts;
}

export async function addCompute(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { value: pattern, rest } = takeOption(argv, ['-l', '--limit']);
  const checked = await checkInput(io, async () => {
    if (pattern === undefined || pattern.trim() === '')
      throw new InputError('--limit', 0, 'name the new compute hosts: -l compute2 (after adding them to [compute])');
    const inventory = await loadInventory(parseCli(rest, 'add-compute', io).inventory);
    return addComputePlays(inventory, newComputeHosts(inventory, pattern));
  });
  if ('exit' in checked) return checked.exit;
  return runPlaybook(openstackPlaybook('add-compute', checked.value), rest, io);
}

if (isMain(import.meta.url)) process.exitCode = await addCompute(process.argv.slice(2));
