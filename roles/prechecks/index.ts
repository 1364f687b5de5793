import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { joinCmds, sh } from '../../lib/core/shell.js';
import { makeTask, noChange, type ShellFact, type Task } from '../../lib/core/task.js';
import { hostVarsOf } from '../../lib/inventory/vars.js';

/**
 * Checks before anything changes (issue 7 §11), each naming the host and the
 * check that failed. Read-only: they plan "no change" or stop the host.
 * Seed 003: cinder volumes failed when clocks drifted; seed 004 §11: names
 * resolved to the wrong address made services register as `localhost`.
 */

/** Largest clock difference to the machine running stackplay. */
export const MAX_CLOCK_SKEW_S = 5;

/** Who may listen on each OpenStack port on a controller (anything else is a conflict). */
export const SERVICE_PORTS: Readonly<Record<number, readonly string[]>> = {
  80: ['apache2', 'httpd'],
  3306: ['mysqld', 'mariadbd'],
  5000: ['keystone', 'keystone-all', 'uwsgi', 'apache2', 'httpd', 'python', 'python3'],
  5672: ['beam.smp', 'beam'],
  6080: ['nova-novncproxy', 'python', 'python3'],
  8774: ['nova-api', 'uwsgi', 'python', 'python3'],
  8776: ['cinder-api', 'uwsgi', 'apache2', 'httpd', 'python', 'python3'],
  8778: ['placement-api', 'uwsgi', 'apache2', 'httpd', 'python3'],
  9292: ['glance-api', 'uwsgi', 'python', 'python3'],
  9696: ['neutron-server', 'neutron-api', 'uwsgi', 'python', 'python3'],
  11211: ['memcached'],
  35357: ['keystone', 'keystone-all', 'apache2', 'httpd', 'python'],
};

export interface Clock {
  readonly hostEpochS: number;
  /** This machine's clock when the answer arrived. */
  readonly localEpochS: number;
}

export function clockFact(): ShellFact<Clock> {
  return {
    kind: 'shell',
    script: sh`date +%s`,
    parse: ({ stdout }) => ({ hostEpochS: Number(stdout.trim()), localEpochS: Date.now() / 1000 }),
    simulate: () => ({ hostEpochS: Math.floor(Date.now() / 1000), localEpochS: Math.floor(Date.now() / 1000) }),
  };
}

export function clockInSync(): Task {
  return makeTask({
    module: 'precheck',
    name: 'precheck: clock in sync',
    facts: { clock: clockFact() },
    plan: ({ clock }) => {
      const skew = clock.hostEpochS - clock.localEpochS;
      if (!Number.isFinite(skew)) throw new Error('precheck clock: cannot read the host clock');
      // One second of slack for the round trip and whole-second resolution.
      if (Math.abs(skew) > MAX_CLOCK_SKEW_S + 1)
        throw new Error(
          `precheck clock: host clock is ${skew > 0 ? 'ahead' : 'behind'} by ${Math.abs(Math.round(skew))} s (more than ${MAX_CLOCK_SKEW_S} s); fix time before deploying (seed 003: cinder fails on drift)`,
        );
      return noChange(`clock within ${Math.abs(Math.round(skew))} s`);
    },
  });
}

/** Listening TCP ports and their programs, from `ss -ltnpH`. */
export function listenersFact(): ShellFact<ReadonlyMap<number, string>> {
  return {
    kind: 'shell',
    script: sh`ss -ltnpH 2>/dev/null || ss -ltnp 2>/dev/null | tail -n +2`,
    parse: ({ stdout }) => {
      const out = new Map<number, string>();
      for (const line of stdout.split('\n')) {
        const cols = line.trim().split(/\s+/);
        const port = Number(cols[3]?.slice(cols[3].lastIndexOf(':') + 1));
        const program = /users:\(\("([^"]+)"/.exec(line)?.[1] ?? '?';
        if (Number.isInteger(port) && port > 0 && !out.has(port)) out.set(port, program);
      }
      return out;
    },
    simulate: () => new Map(),
  };
}

export function portsFree(ports: readonly number[]): Task {
  return makeTask({
    module: 'precheck',
    name: `precheck: OpenStack ports free or ours (${ports.join(' ')})`,
    facts: { listening: listenersFact() },
    plan: ({ listening }) => {
      const taken = ports.flatMap((p) => {
        const program = listening.get(p);
        // Debian 12 runs its uwsgi services as /usr/bin/uwsgi_python311 (the lab's keystone, nova-api, placement-api, neutron-api).
        const name = program?.replace(/^uwsgi_python\d*$/, 'uwsgi');
        return program !== undefined && !(SERVICE_PORTS[p] ?? []).includes(name ?? program) ? [`${p} (${program})`] : [];
      });
      if (taken.length > 0) throw new Error(`precheck ports: taken by another program: ${taken.join(', ')}`);
      return noChange('no conflicting listener');
    },
  });
}

/** Names of every inventory host as this host resolves them. */
export function resolutionFact(names: readonly string[]): ShellFact<ReadonlyMap<string, string>> {
  return {
    kind: 'shell',
    script: joinCmds(
      names.map((n) => sh`printf '%s %s\\n' ${n} "$(getent hosts ${n} | awk '{print $1; exit}')"`),
      '\n',
    ),
    parse: ({ stdout }) =>
      new Map(
        stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => [l.split(' ')[0] ?? '', l.split(' ')[1] ?? '']),
      ),
    simulate: () => new Map(),
  };
}

export function namesResolve(expected: ReadonlyMap<string, string>, self: string): Task {
  return makeTask({
    module: 'precheck',
    name: 'precheck: inventory names resolve to their addresses',
    facts: { resolved: resolutionFact([...expected.keys()]) },
    plan: ({ resolved }) => {
      const wrong = [...expected].flatMap(([name, address]) => {
        const got = resolved.get(name) ?? '';
        // Unresolved names get an /etc/hosts entry from the common role; so
        // does this host's own Ubuntu-style 127.0.1.1 line (seed 004 §11).
        if (got === '' || got === address || (name === self && got.startsWith('127.'))) return [];
        return [`${name} → ${got} (inventory: ${address})`];
      });
      if (wrong.length > 0) throw new Error(`precheck names: resolve elsewhere than the inventory says: ${wrong.join(', ')}`);
      return noChange('names resolve as the inventory says, or will through /etc/hosts');
    },
  });
}

export function prechecks(ctx: HostContext) {
  const expected = new Map(
    [...ctx.inventory.hosts.keys()].map((name) => {
      const v = hostVarsOf(ctx.inventory, name);
      return [name, v.str('management_ip', v.str('ansible_host', name))] as const;
    }),
  );
  const tags = ['prechecks', 'always'];
  const withTags = (t: Task): Task => ({ ...t, tags });
  return defineRole('prechecks').tasks([
    withTags(clockInSync()),
    withTags(namesResolve(expected, ctx.host)),
    ...(ctx.groups.includes('controller') ? [withTags(portsFree(Object.keys(SERVICE_PORTS).map(Number)))] : []),
  ]);
}

export const plays: Play[] = [{ name: 'prechecks: clocks, names, ports', hosts: 'all', roles: [prechecks] }];

if (isMain(import.meta.url)) await main(openstackPlaybook('prechecks', plays));
