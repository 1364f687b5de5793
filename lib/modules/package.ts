import { RUN_ID, STATE_DIR } from '../core/run-id.js';
import { Labeled, sh, type Cmd } from '../core/shell.js';
import type { SimHost } from '../sim/sim.js';
import { makeTask, noChange, type Plan, type ShellFact, type Step, type Task, type TaskOptions } from '../core/task.js';

export type PackageManager = 'apt' | 'yum';

export interface PackagesArgs {
  readonly names: readonly string[];
  readonly manager: PackageManager;
  readonly state?: 'present' | 'absent';
  /** apt only: refresh the lists first, at most once per run per host (default true). */
  readonly updateCache?: boolean;
  /**
   * apt only: keep maintainer scripts from starting services while installing
   * (a `/usr/sbin/policy-rc.d` that exits 101, removed afterwards), so the
   * role that owns a service's configuration also owns when it first starts.
   * Debian's packages otherwise start every daemon with its packaged config.
   */
  readonly holdServices?: boolean;
}

/** Marker written by the apt-get update this run made; a repository change removes it. */
export const APT_MARKER = `${STATE_DIR}/apt-updated`;

const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9+._:-]*$/;

/** Which of `names` are installed. */
export function installedFact(manager: PackageManager, names: readonly string[]): ShellFact<ReadonlySet<string>> {
  const script =
    manager === 'apt'
      ? sh`dpkg-query -W -f='\${Package}\t\${Status}\n' -- ${names} 2>/dev/null; true`
      : sh`rpm -q --qf '%{NAME}\n' -- ${names} 2>/dev/null; true`;
  return {
    kind: 'shell',
    script,
    parse({ stdout }) {
      const installed = new Set<string>();
      for (const line of stdout.split('\n')) {
        if (manager === 'apt') {
          const [name, status] = line.split('\t');
          if (name && status?.endsWith(' installed')) installed.add(name);
        } else if (names.includes(line.trim())) installed.add(line.trim());
      }
      return installed;
    },
    simulate: (host: SimHost) => new Set(names.filter((n) => host.set('packages').has(n))),
    absorb: (host, installed) => names.forEach((n) => (installed.has(n) ? host.set('packages').add(n) : host.set('packages').delete(n))),
  };
}

/** Content of the apt marker: the run id of the last refresh. */
export function aptMarkerFact(): ShellFact<string> {
  return {
    kind: 'shell',
    script: sh`cat ${APT_MARKER} 2>/dev/null; true`,
    parse: ({ stdout }) => stdout.trim(),
    simulate: (host) => host.value('apt-marker') ?? '',
    absorb: (host, marker) => host.setValue('apt-marker', marker),
  };
}

const aptEnv = sh`DEBIAN_FRONTEND=noninteractive`;
// A stalled mirror or proxy fails and retries instead of hanging the run;
// another apt (unattended-upgrades, an interrupted run) is waited for, as
// Ansible's apt lock_timeout does. Old apt ignores options it does not know.
const aptOpts = sh`-o Acquire::http::Timeout=60 -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300`;

/**
 * apt's own timeouts do not cover everything: on the Zed lab, hosts
 * refreshing the same index at the same second made apt-cacher-ng fail
 * ("Failure to move file … InRelease out of the way") and close the
 * connection, and `apt-get update` then sat with its http method on that
 * closed connection (CLOSE-WAIT) for as long as it was left — 19 minutes
 * once. Downloads (update, `install --download-only`) therefore run under
 * `timeout` and are retried twice when they stall (a retry resumes partial
 * files); dpkg itself (the install proper, from the downloaded files) is
 * never interrupted.
 */
export const APT_STALL_SECONDS = { update: 120, download: 300 } as const;
const retryApt = (seconds: number) =>
  sh`retry_apt() { n=0; until timeout -k 10 ${seconds} "$@"; do rc=$?; n=$((n + 1)); case $rc in 124|137) [ "$n" -lt 3 ] || return "$rc"; echo "stackplay: apt stalled (exit $rc), retrying" >&2 ;; *) return "$rc" ;; esac; done; }
`;

/** invoke-rc.d asks this script whether a maintainer script may start a service (101: no). */
export const POLICY_RC_D = '/usr/sbin/policy-rc.d';
/** Marks the policy-rc.d this module writes, so one left behind by a lost connection is still recognised as its own. */
const POLICY_MARK = 'stackplay: no service starts during package installs';

// A policy-rc.d someone else put there stays (and keeps deciding); ours goes when the install ends, however it ends.
const holdPrefix = sh`if [ ! -e ${POLICY_RC_D} ] || grep -qs ${POLICY_MARK} ${POLICY_RC_D}; then printf '#!/bin/sh\\n# %s\\nexit 101\\n' ${POLICY_MARK} >${POLICY_RC_D} && chmod 0755 ${POLICY_RC_D} && trap ${`rm -f ${POLICY_RC_D}`} EXIT; fi
`;

/**
 * A maintainer script that fails once is configured once more. On the Zed
 * lab, openstack-dashboard's postinst (`manage.py compress`) failed on a fresh
 * controller with a pyScss syntax error in a file it had compiled a hundred
 * times ("Found 'inline-blo' but expected one of …"), leaving the package
 * half-configured; `dpkg --configure --pending` then succeeded. Only when
 * dpkg has unfinished packages (`dpkg --audit`) and only once: another
 * failure (a missing package, a script that fails again) still fails the task.
 */
export const CONFIGURE_AGAIN = sh`configure_again() { "$@" && return; rc=$?; [ -n "$(dpkg --audit 2>/dev/null)" ] || return "$rc"; echo "stackplay: apt-get exited $rc with packages left unconfigured; configuring them once more" >&2; ${aptEnv} dpkg --configure --pending --force-confdef --force-confold && "$@"; }
`;

function installCmd(manager: PackageManager, names: readonly string[], hold: boolean): Cmd {
  return manager === 'apt'
    ? sh`${hold ? holdPrefix : sh``}${CONFIGURE_AGAIN}configure_again env ${aptEnv} apt-get install -y -q ${aptOpts} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -- ${names}`
    : sh`yum install -y -q -- ${names}`;
}

function removeCmd(manager: PackageManager, names: readonly string[]): Cmd {
  return manager === 'apt' ? sh`${aptEnv} apt-get remove -y -q ${aptOpts} -- ${names}` : sh`yum remove -y -q -- ${names}`;
}

/** Install (or remove) packages in one batch, as `apt-get install a b c` does. */
export function packages<H extends string = never>(args: PackagesArgs, options?: TaskOptions<H>): Task<H> {
  const bad = args.names.find((n) => !PACKAGE_NAME.test(n));
  if (bad !== undefined) throw new Error(`invalid package name ${JSON.stringify(bad)}`);
  const state = args.state ?? 'present';
  return makeTask({
    module: 'package',
    name: `${state === 'present' ? 'install' : 'remove'} ${args.names.join(' ')}`,
    options,
    facts: { installed: installedFact(args.manager, args.names), marker: aptMarkerFact() },
    plan: ({ installed, marker }): Plan => {
      const todo = args.names.filter((n) => installed.has(n) !== (state === 'present'));
      if (todo.length === 0) return noChange(state === 'present' ? 'all installed' : 'none installed');
      const steps: Step[] = [];
      if (state === 'present' && args.manager === 'apt' && (args.updateCache ?? true) && marker !== RUN_ID) {
        steps.push({
          kind: 'exec',
          cmd: sh`${retryApt(APT_STALL_SECONDS.update)}retry_apt env ${aptEnv} apt-get update -q ${aptOpts} && mkdir -p ${STATE_DIR} && echo ${new Labeled(RUN_ID, '$RUN_ID')} > ${APT_MARKER}`,
          simulate: (h) => h.setValue('apt-marker', RUN_ID),
        });
      }
      if (state === 'present' && args.manager === 'apt') {
        steps.push({
          kind: 'exec',
          cmd: sh`${retryApt(APT_STALL_SECONDS.download)}retry_apt env ${aptEnv} apt-get install --download-only -y -q ${aptOpts} -- ${todo}`,
        });
      }
      steps.push({
        kind: 'exec',
        cmd: state === 'present' ? installCmd(args.manager, todo, args.holdServices === true) : removeCmd(args.manager, todo),
        simulate: (h) => {
          todo.forEach((n) => (state === 'present' ? h.set('packages').add(n) : h.set('packages').delete(n)));
          // Which services the packages bring is not modelled: once something is installed, any service may exist.
          if (state === 'present') h.set('services:missing').clear();
        },
      });
      return { action: 'change', summary: `${state === 'present' ? 'install' : 'remove'} ${todo.join(' ')}`, steps };
    },
  });
}
