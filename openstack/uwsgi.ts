import { sh } from '../lib/core/shell.js';
import { makeTask, type ShellFact, type Task, type TaskOptions } from '../lib/core/task.js';
import { pathFact } from '../lib/modules/facts.js';
import { planContent } from '../lib/modules/file.js';
import { editIni } from '../lib/modules/ini-edit.js';
import { ABSENT, toIniSettings, type IniValue } from '../lib/modules/ini.js';

/**
 * API worker processes of an API Debian runs under uwsgi when the inventory
 * does not say (`openstack_api_workers`): one per CPU, at most this many,
 * as Kolla's `openstack_service_workers`. Debian's uwsgi ini files ship
 * fixed counts whatever the host (keystone, placement, nova's metadata API
 * 8; nova-api 16): some 60 Python workers on a small controller, each
 * importing its service at every restart. On the 2-CPU lab that load made
 * systemd give up on nova-scheduler's start (Type=notify, 90 s), and
 * nova-conductor never started.
 */
export const MAX_DEFAULT_API_WORKERS = 5;

/** The host's CPUs (`nproc`); a simulated host reports its hardware `cpus`, 2 unless given. */
export function cpuCountFact(): ShellFact<number> {
  return {
    kind: 'shell',
    script: sh`nproc`,
    parse: ({ stdout, exitCode }) => {
      const n = Number(stdout.trim());
      if (exitCode !== 0 || !Number.isInteger(n) || n < 1) throw new Error(`nproc: unexpected answer ${JSON.stringify(stdout.trim())} (exit ${exitCode})`);
      return n;
    },
    simulate: (host) => Number(host.hardware['cpus'] ?? '2'),
  };
}

/** `[uwsgi] processes`: the inventory's count, else one per CPU up to MAX_DEFAULT_API_WORKERS. */
export const apiWorkers = (cpus: number, configured: number | undefined): number => configured ?? Math.min(cpus, MAX_DEFAULT_API_WORKERS);

export interface UwsgiAppArgs {
  /** The app's uwsgi ini file (`/etc/nova/nova-api-uwsgi.ini`). */
  readonly path: string;
  /** Inventory `openstack_api_workers`; unset, the host's CPUs decide (apiWorkers). */
  readonly workers: number | undefined;
  /** Further `[uwsgi]` options of this app. */
  readonly settings?: Readonly<Record<string, IniValue>>;
}

/** One API's uwsgi ini file: its worker processes, sized to the host, and the app's own options. */
export function uwsgiApp<H extends string = never>(args: UwsgiAppArgs, options?: TaskOptions<H>): Task<H> {
  const keys = ['processes', ...Object.keys(args.settings ?? {})];
  return makeTask({
    module: 'ini',
    name: `ini ${args.path} [uwsgi] ${keys.join(' ')}`,
    options,
    facts: { cpus: cpuCountFact(), current: pathFact(args.path) },
    plan: ({ cpus, current }) => {
      const processes = apiWorkers(cpus, args.workers);
      const before = current?.type === 'file' ? current.content : '';
      const { text } = editIni(before, toIniSettings({ uwsgi: { processes, ...args.settings } }));
      return planContent(args.path, current, text, {}, `processes = ${processes} and ${keys.length - 1} other option(s) already set`);
    },
  });
}

/**
 * oslo.messaging's AMQP heartbeat for the API services Debian runs under
 * uwsgi that do not patch for eventlet (nova's). Seen on the lab: RabbitMQ
 * closed the idle connections of the nova-api and neutron-api workers
 * ("missed heartbeats from client, timeout: 60s"), and the next API call
 * that casts over RPC (a floating IP after a few idle minutes) hung for good
 * (for neutron-api the cause was its threads: see uwsgiEventletApp).
 * oslo.messaging's answer is
 * `[oslo_messaging_rabbit] heartbeat_in_pthread = true`, "only for the wsgi
 * services": not for the eventlet daemons that read the same nova.conf or
 * neutron.conf. oslo.config reads an option from the environment
 * (OS_<GROUP>__<OPTION>), and uwsgi's `env` sets it for that one app, as
 * Kolla does with a config per service container.
 */
export const UWSGI_HEARTBEAT_ENV = 'OS_OSLO_MESSAGING_RABBIT__HEARTBEAT_IN_PTHREAD=true';

/** An API that casts over RPC from its uwsgi workers: its processes and the `[uwsgi] env` line of its heartbeat. */
export function uwsgiHeartbeat<H extends string = never>(path: string, workers: number | undefined, options?: TaskOptions<H>): Task<H> {
  return uwsgiApp({ path, workers, settings: { env: UWSGI_HEARTBEAT_ENV } }, options);
}

/**
 * An API whose WSGI script monkey-patches the process for eventlet:
 * neutron-api's imports neutron.cmd.eventlet. Debian's uwsgi ini runs 32
 * native threads in each worker, and eventlet's green locks never wake a
 * greenlet that waits in another native thread: on the lab a neutron request
 * hung for good (gdb: its thread asleep in eventlet's hub, the other 31
 * idle), and with it the verify playbook's `openstack server create`. One
 * thread a worker, as neutron's own uwsgi and mod_wsgi guides run it
 * (processes = 2 without threads; threads=1). Such a worker does not run the
 * AMQP heartbeat in a native thread either (oslo.messaging bug 1961402: hangs
 * under eventlet): an idle connection the broker closes is opened again by
 * the next call, as for every eventlet service.
 */
export function uwsgiEventletApp<H extends string = never>(path: string, workers: number | undefined, options?: TaskOptions<H>): Task<H> {
  return uwsgiApp({ path, workers, settings: { threads: 1, env: ABSENT } }, options);
}
