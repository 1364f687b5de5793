import { ini } from '../lib/modules/ini.js';
import type { Task, TaskOptions } from '../lib/core/task.js';

/**
 * oslo.messaging's AMQP heartbeat for the API services Debian runs under
 * uwsgi. Seen on the lab: RabbitMQ closed the idle connections of the
 * neutron-api and nova-api workers ("missed heartbeats from client,
 * timeout: 60s"), and the next API call that casts over RPC (a floating IP
 * after a few idle minutes) hung for good. oslo.messaging's answer is
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
