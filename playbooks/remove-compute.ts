import { checkInput, takeFlag, takeOption } from '../lib/cli/argv.js';
import { isMain, parseCli, runPlaybook, type CliIo } from '../lib/cli/cli.js';
import { InputError } from '../lib/core/errors.js';
import { hostDaemons } from '../lib/core/lifecycle.js';
import { defineRole, type HostContext, type Play } from '../lib/core/playbook.js';
import { sh, type Cmd } from '../lib/core/shell.js';
import { makeTask, noChange, type Plan, type ShellFact, type Task } from '../lib/core/task.js';
import { loadInventory, selectHosts, type Inventory } from '../lib/inventory/inventory.js';
import { service } from '../lib/modules/service.js';
import { openstackPlaybook } from '../openstack/playbook.js';
import { backupFirst } from './backup.js';
import { cloudPlays } from './site.js';

/**
 * Day-2: retire compute hosts (issue 17; openstack-ansible's remove-compute
 * docs, kolla-ansible's "removing existing compute nodes"):
 *
 *   npx tsx playbooks/remove-compute.ts -i hosts/lab.ini -l compute2 [--migrate]
 *
 * A backup first (playbooks/backup.ts). Then, on the controller, the host's
 * nova-compute is disabled, so the scheduler sends nothing new there; its
 * servers are live-migrated away with --migrate, and without it a host that
 * still has servers stops the removal. On the host, its services are
 * stopped and disabled at boot. Last, the controller deletes its nova-compute
 * service (nova deletes its compute node, host mapping and placement
 * provider with it) and its neutron agents. `--plan` shows all of it
 * offline. Any failure stops the removal where it is (`--any-errors-fatal`).
 * Then take the host out of the inventory.
 */

const ADMIN_RC = '/root/admin-openrc.sh';
/** The admin credentials and the CLI, on the controller (the keystone role writes the openrc). */
const withAdmin = (body: Cmd): Cmd => sh`set -e
. ${ADMIN_RC}
${body}`;

/** Lines of a read-only CLI listing on the controller; on a simulated host, what the site would have registered for `host`. */
function listing(script: Cmd, simulated: (removed: boolean) => string[], key: string): ShellFact<string[]> {
  return {
    kind: 'shell',
    script: withAdmin(script),
    parse: ({ exitCode, stdout, stderr }) => {
      if (exitCode !== 0) throw new Error(`${script.display()}: ${stderr.trim() || stdout.trim()}`);
      return stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
    },
    simulate: (h) => simulated(h.set('removed-computes').has(key)),
  };
}

const computeServices = (host: string) =>
  listing(
    sh`openstack compute service list --host ${host} --service nova-compute -f value -c ID -c Status`,
    (gone) => (gone ? [] : [`sim-${host} enabled`]),
    host,
  );
const serversOn = (host: string) => listing(sh`openstack server list --all-projects --host ${host} -f value -c ID`, () => [], host);
const agentsOn = (host: string) => listing(sh`openstack network agent list --host ${host} -f value -c ID`, (gone) => (gone ? [] : [`sim-agent-${host}`]), host);

function drain(host: string): Task {
  return makeTask({
    module: 'openstack',
    name: `disable nova-compute on ${host}`,
    facts: { services: computeServices(host) },
    plan: ({ services }): Plan => {
      if (services.length === 0) return noChange(`${host} has no nova-compute service`);
      if (services.every((l) => l.endsWith(' disabled'))) return noChange(`nova-compute on ${host} is disabled`);
      return {
        action: 'change',
        summary: `disable nova-compute on ${host}: the scheduler places nothing new there`,
        steps: [{ kind: 'exec', cmd: withAdmin(sh`openstack compute service set --disable --disable-reason ${'removed by stackplay'} ${host} nova-compute`) }],
      };
    },
  });
}

function moveServers(host: string, migrate: boolean): Task {
  return makeTask({
    module: 'openstack',
    name: `${migrate ? 'live-migrate' : 'no'} servers on ${host}`,
    facts: { servers: serversOn(host) },
    plan: ({ servers }): Plan => {
      if (servers.length === 0) return noChange(`${host} has no servers`);
      if (!migrate) throw new Error(`${host} still has ${servers.length} server(s) (${servers.join(', ')}): move them with --migrate, or delete them`);
      return {
        action: 'change',
        summary: `live-migrate ${servers.length} server(s) off ${host}`,
        // Microversion 2.25+: block migration when there is no shared storage ('auto'). nova reports a live migration
        // that failed as done (the server stays ACTIVE where it was): the host is checked afterwards.
        steps: servers.map((id) => ({
          kind: 'exec' as const,
          cmd: withAdmin(sh`openstack --os-compute-api-version 2.30 server migrate --live-migration --wait ${id}
at=$(openstack server show ${id} -f value -c OS-EXT-SRV-ATTR:host)
if [ "$at" = ${host} ]; then echo ${`server ${id} is still on ${host} after its live migration: nova-compute's log there says why (the compute hosts' libvirt must reach each other)`} >&2; exit 1; fi`),
        })),
      };
    },
  });
}

function deleteRecords(host: string): Task {
  return makeTask({
    module: 'openstack',
    name: `delete ${host}'s nova-compute service and network agents`,
    facts: { services: computeServices(host), agents: agentsOn(host) },
    plan: ({ services, agents }): Plan => {
      if (services.length === 0 && agents.length === 0) return noChange(`no service or agent of ${host} is registered`);
      const ids = services.map((l) => l.split(' ')[0]!);
      return {
        action: 'change',
        summary: `delete nova-compute service ${ids.join(', ') || '(none)'} and network agent(s) ${agents.join(', ') || '(none)'} of ${host}`,
        steps: [
          ...ids.map((id) => ({ kind: 'exec' as const, cmd: withAdmin(sh`openstack compute service delete ${id}`) })),
          ...(agents.length > 0 ? [{ kind: 'exec' as const, cmd: withAdmin(sh`openstack network agent delete ${agents}`) }] : []),
          { kind: 'exec' as const, cmd: sh`true`, simulate: (h) => void h.set('removed-computes').add(host) },
        ],
      };
    },
  });
}

/** On the retired host: every service the site keeps running there, stopped (agents first) and not started at boot. */
function stopHost(ctx: HostContext) {
  return defineRole('remove-compute').tasks(
    hostDaemons(cloudPlays(), ctx)
      .reverse()
      .map((name) => service({ name, state: 'stopped', enabled: false })),
  );
}

export function removeComputePlays(hosts: readonly string[], migrate: boolean): Play[] {
  const list = hosts.join(',');
  return [
    {
      name: 'remove-compute: drain',
      hosts: 'controller',
      roles: [() => defineRole('remove-compute').tasks(hosts.flatMap((h) => [drain(h), moveServers(h, migrate)]))],
    },
    { name: 'remove-compute: stop the host', hosts: list, roles: [stopHost] },
    { name: 'remove-compute: delete its records', hosts: 'controller', roles: [() => defineRole('remove-compute').tasks(hosts.map(deleteRecords))] },
  ];
}

function computeHostsOf(inventory: Inventory, pattern: string): string[] {
  const hosts = selectHosts(inventory, pattern, { file: '--limit', line: 0 });
  const computes = inventory.groups.has('compute') ? inventory.groupHosts('compute') : [];
  const strays = hosts.filter((h) => !computes.includes(h));
  if (strays.length > 0) throw new InputError('--limit', 0, `${strays.join(', ')} not in the compute group: remove-compute retires compute hosts only`);
  if (hosts.length === computes.length) throw new InputError('--limit', 0, `that is every compute host (${hosts.join(', ')}): keep at least one`);
  return hosts;
}

export async function removeCompute(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const migrate = takeFlag(argv, '--migrate');
  const { value: pattern, rest } = takeOption(migrate.rest, ['-l', '--limit']);
  const checked = await checkInput(io, async () => {
    if (pattern === undefined || pattern.trim() === '') throw new InputError('--limit', 0, 'name the compute hosts to retire: -l compute2');
    const inventory = await loadInventory(parseCli(rest, 'remove-compute', io).inventory);
    return removeComputePlays(computeHostsOf(inventory, pattern), migrate.set);
  });
  if ('exit' in checked) return checked.exit;
  const backedUp = await backupFirst(rest, io, 'remove-compute');
  if (backedUp !== 0) return backedUp;
  // A host that cannot be drained stops the removal there: nothing is stopped or deleted after a failure.
  return runPlaybook(openstackPlaybook('remove-compute', checked.value), [...rest, '--any-errors-fatal'], io);
}

if (isMain(import.meta.url)) process.exitCode = await removeCompute(process.argv.slice(2));
