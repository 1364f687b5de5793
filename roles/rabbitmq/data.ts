import type { OsFamily, Release } from '../../openstack/release.js';

/** The message broker per release and OS. */
export interface RabbitmqPlatform {
  readonly packages: readonly string[];
  /** The same name everywhere: CentOS 7's unit, Ubuntu 14.04's and Debian 12's init script (rabbitmq-server 3.10.8 in bookworm). */
  readonly service: string;
  /**
   * Juno uses the `guest` account from other nodes. RabbitMQ 3.3+ limits guest to
   * localhost; the Juno guide lifts that with `loopback_users` (Ubuntu 14.04 ships 3.2.4,
   * which ignores the setting, so it is harmless there and right after an upgrade).
   */
  readonly config: { readonly path: string; readonly content: string } | null;
}

const GUEST_REMOTE = {
  path: '/etc/rabbitmq/rabbitmq.config',
  content: '% Managed by stackplay: guest may log in from other nodes (Juno guide, RabbitMQ >= 3.3).\n[{rabbit, [{loopback_users, []}]}].\n',
};

export function rabbitmqPlatform(release: Release, _family: OsFamily): RabbitmqPlatform {
  return { packages: ['rabbitmq-server'], service: 'rabbitmq-server', config: release === 'juno' ? GUEST_REMOTE : null };
}
