import { ABSENT, ini } from '../lib/modules/ini.js';
import type { Task, TaskOptions } from '../lib/core/task.js';

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

/** The `[uwsgi] env` line of one API service's uwsgi ini file. */
export function uwsgiHeartbeat<H extends string = never>(path: string, options?: TaskOptions<H>): Task<H> {
  return ini({ path, settings: { uwsgi: { env: UWSGI_HEARTBEAT_ENV } } }, options);
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
export function uwsgiEventletApp<H extends string = never>(path: string, options?: TaskOptions<H>): Task<H> {
  return ini({ path, settings: { uwsgi: { threads: 1, env: ABSENT } } }, options);
}
