import type { OsFamily, Release } from '../../openstack/release.js';

/**
 * Compute (and Zed's Placement) per release and OS, as the install guides
 * and seeds 003/004 do it. One row per supported (release, OS family) pair.
 */

/** How a release names the VNC options: Juno's [DEFAULT] names, Liberty's [vnc] `vncserver_*`, Zed's [vnc] `server_*`. */
export type VncStyle = 'default' | 'vnc-legacy' | 'vnc';

/** How nova authenticates to neutron: Juno's v2.0 admin_* options, Liberty's `auth_plugin`, Zed's `auth_type`. */
export type NeutronAuthStyle = 'v2-admin' | 'auth-plugin' | 'auth-type';

export interface NovaRelease {
  /** Databases of the nova account, in the guide's order. */
  readonly databases: readonly string[];
  /** Path of the compute endpoint after the port. */
  readonly endpointPath: string;
  readonly vnc: VncStyle;
  /** `[glance] host` (Juno, Liberty) or `api_servers` (Zed). */
  readonly glance: 'host' | 'api_servers';
  readonly lockPath: boolean;
  readonly neutronAuth: NeutronAuthStyle;
  /** Juno/Liberty: `network_api_class`, `security_group_api`, `linuxnet_interface_driver`, `firewall_driver` in [DEFAULT]. */
  readonly networkApiOptions: boolean;
  /** `[DEFAULT] enabled_apis` on the controller; null keeps the package default (Juno keeps ec2 for seed 004 §13). */
  readonly enabledApis: string | null;
  readonly verbose: boolean;
  /** `[cinder] os_region_name` on the controller when the inventory has block storage (Liberty and Zed guides). */
  readonly cinderRegion: boolean;
  /** Zed: `[api] auth_strategy` (instead of [DEFAULT]), `[service_user]`, `[placement]`, cells v2. */
  readonly modern: boolean;
}

export const NOVA_RELEASE: Readonly<Record<Release, NovaRelease>> = {
  juno: {
    databases: ['nova'],
    endpointPath: 'v2/%(tenant_id)s',
    vnc: 'default',
    glance: 'host',
    lockPath: false,
    neutronAuth: 'v2-admin',
    networkApiOptions: true,
    enabledApis: null,
    verbose: true,
    cinderRegion: false,
    modern: false,
  },
  liberty: {
    // The Liberty guide and seed 003 create only `nova`: the API database
    // (`nova_api`, `api_db sync`) became part of the guide in Mitaka.
    databases: ['nova'],
    endpointPath: 'v2/%(tenant_id)s',
    vnc: 'vnc-legacy',
    glance: 'host',
    lockPath: true,
    neutronAuth: 'auth-plugin',
    networkApiOptions: true,
    // Seed 003 and the Liberty guide: no EC2 API.
    enabledApis: 'osapi_compute,metadata',
    verbose: true,
    cinderRegion: true,
    modern: false,
  },
  zed: {
    databases: ['nova_api', 'nova', 'nova_cell0'],
    endpointPath: 'v2.1',
    vnc: 'vnc',
    glance: 'api_servers',
    lockPath: true,
    neutronAuth: 'auth-type',
    networkApiOptions: false,
    enabledApis: null,
    verbose: false,
    cinderRegion: true,
    modern: true,
  },
};

/** A daemon the compute node needs before nova-compute (libvirt). */
export interface Daemon {
  /** Service (init script, upstart job or systemd unit) name. */
  readonly service: string;
  /**
   * Debian 12 ships systemd units but no init script for libvirt's daemons:
   * on a Debian host without systemd the binary is started directly
   * (`<binary> -d`); with systemd (every real host, the lab's) the unit is used.
   */
  readonly binary?: string;
  /** `key = value` settings of the daemon's own config files (values as written, quotes included). */
  readonly config?: readonly DaemonConfig[];
}

export interface DaemonConfig {
  readonly path: string;
  readonly settings: Readonly<Record<string, string>>;
}

export interface NovaPlatform {
  readonly controllerPackages: readonly string[];
  /** In the guide's restart order. */
  readonly controllerServices: readonly string[];
  readonly computePackages: readonly string[];
  readonly computeService: string;
  readonly libvirt: readonly Daemon[];
  /** Where `[libvirt] virt_type` and `compute_driver` go: nova-compute.conf overrides nova.conf on Debian/Ubuntu. */
  readonly virtConfig: string;
  /** Ubuntu's packages leave an unused SQLite database the guides delete. */
  readonly sqliteLeftover: boolean;
  /** Debian: /etc/default/nova-consoleproxy picks which console proxy its init scripts start (default spicehtml5). */
  readonly consoleProxyDefaults: string | null;
  /**
   * Debian's packaged nova.conf: `[spice] enabled = true` and `region_name =
   * regionOne` in [keystone_authtoken]; the guide's console is noVNC and the
   * catalog's region is `RegionOne` (regions are case-sensitive).
   */
  readonly debianDefaults: boolean;
  /** Placement's own packages and service (Zed), and the uwsgi ini file it runs from (openstack/uwsgi.ts). */
  readonly placement: { readonly packages: readonly string[]; readonly service: string; readonly uwsgiIni: string } | null;
  /** uwsgi ini files of this platform's API services that cast over RPC (openstack/uwsgi.ts). */
  readonly uwsgiApps: readonly string[];
}

const UBUNTU: NovaPlatform = {
  controllerPackages: ['nova-api', 'nova-cert', 'nova-conductor', 'nova-consoleauth', 'nova-novncproxy', 'nova-scheduler', 'python-novaclient'],
  controllerServices: ['nova-api', 'nova-cert', 'nova-consoleauth', 'nova-scheduler', 'nova-conductor', 'nova-novncproxy'],
  computePackages: ['nova-compute', 'sysfsutils'],
  computeService: 'nova-compute',
  libvirt: [{ service: 'libvirt-bin' }],
  // Seed 004 §7.2.2 and the guides: virt_type goes into nova-compute.conf (nova-compute-kvm's file says kvm).
  virtConfig: '/etc/nova/nova-compute.conf',
  sqliteLeftover: true,
  consoleProxyDefaults: null,
  debianDefaults: false,
  placement: null,
  uwsgiApps: [],
};

const PLATFORMS: Readonly<Record<string, NovaPlatform>> = {
  'juno/ubuntu': UBUNTU,
  'liberty/ubuntu': UBUNTU,
  'liberty/centos': {
    // Seed 003 and the Liberty RDO guide.
    controllerPackages: [
      'openstack-nova-api',
      'openstack-nova-cert',
      'openstack-nova-conductor',
      'openstack-nova-console',
      'openstack-nova-novncproxy',
      'openstack-nova-scheduler',
      'python-novaclient',
    ],
    controllerServices: [
      'openstack-nova-api',
      'openstack-nova-cert',
      'openstack-nova-consoleauth',
      'openstack-nova-scheduler',
      'openstack-nova-conductor',
      'openstack-nova-novncproxy',
    ],
    computePackages: ['openstack-nova-compute', 'sysfsutils'],
    computeService: 'openstack-nova-compute',
    libvirt: [{ service: 'libvirtd' }],
    // No nova-compute.conf on RDO: the Liberty RDO guide sets [libvirt] virt_type in nova.conf.
    virtConfig: '/etc/nova/nova.conf',
    sqliteLeftover: false,
    consoleProxyDefaults: null,
    debianDefaults: false,
    placement: null,
    uwsgiApps: [],
  },
  'zed/debian': {
    // Checked in the Debian 12 packages: nova-consoleproxy ships the noVNC proxy
    // (/etc/init.d/nova-novncproxy); nova-api ships nova-api (uwsgi, :8774) and
    // nova-api-metadata (:8775, which Ubuntu's nova-api serves itself and the
    // neutron metadata agent needs).
    controllerPackages: ['nova-api', 'nova-conductor', 'nova-consoleproxy', 'nova-scheduler'],
    controllerServices: ['nova-api', 'nova-api-metadata', 'nova-scheduler', 'nova-conductor', 'nova-novncproxy'],
    // nova-compute depends on nova-compute-kvm (libvirt-daemon-system, qemu-system-x86), whose nova-compute.conf says kvm.
    computePackages: ['nova-compute'],
    computeService: 'nova-compute',
    // libvirt-daemon-system has systemd units but no init scripts (LAB-NOTES); virtlogd first, libvirtd needs it.
    libvirt: [
      { service: 'virtlogd', binary: '/usr/sbin/virtlogd' },
      {
        service: 'libvirtd',
        binary: '/usr/sbin/libvirtd',
        // Debian's libvirtd authorizes the read-write socket through polkit over the D-Bus system bus. nova-compute
        // runs as `nova` (in group libvirt, added by nova-compute's postinst); on the lab's hosts when they had no
        // systemd, neither D-Bus nor polkitd ran and nova-compute died with "Unable to get system bus connection";
        // polkitd is still not installed (a recommends). The socket's group gives the same access polkit's
        // 60-libvirt.rules gives (group libvirt), without polkit.
        config: [
          {
            path: '/etc/libvirt/libvirtd.conf',
            settings: {
              unix_sock_group: '"libvirt"',
              unix_sock_ro_perms: '"0777"',
              unix_sock_rw_perms: '"0770"',
              auth_unix_ro: '"none"',
              auth_unix_rw: '"none"',
            },
          },
        ],
      },
    ],
    // /etc/init.d/nova-compute adds --config-file=/etc/nova/nova-compute.conf when it exists.
    virtConfig: '/etc/nova/nova-compute.conf',
    sqliteLeftover: false,
    consoleProxyDefaults: '/etc/default/nova-consoleproxy',
    debianDefaults: true,
    // /etc/init.d/placement-api (uwsgi, :8778): Debian runs it without the guide's apache2.
    placement: { packages: ['placement-api'], service: 'placement-api', uwsgiIni: '/etc/placement/placement-api-uwsgi.ini' },
    // nova-api and nova-api-metadata cast and call over RPC from uwsgi workers (placement-api does not use RabbitMQ).
    uwsgiApps: ['/etc/nova/nova-api-uwsgi.ini', '/etc/nova/nova-api-metadata-uwsgi.ini'],
  },
};

export function novaPlatform(release: Release, family: OsFamily): NovaPlatform {
  const row = PLATFORMS[`${release}/${family}`];
  if (!row) throw new Error(`nova: ${release} on ${family} is not supported (supported: ${Object.keys(PLATFORMS).join(', ')})`);
  return row;
}

/** `[DEFAULT] linuxnet_interface_driver` per release and neutron agent (Juno/Liberty only). */
export function linuxnetInterfaceDriver(release: Release, agent: 'ovs' | 'linuxbridge'): string {
  if (agent === 'ovs') return 'nova.network.linux_net.LinuxOVSInterfaceDriver';
  // Liberty renamed the linuxbridge driver (seed 003 notes the new name).
  return release === 'juno' ? 'nova.network.linux_net.LinuxBridgeInterfaceDriver' : 'nova.network.linux_net.NeutronLinuxBridgeInterfaceDriver';
}

/** qemu.conf, read by libvirtd's QEMU driver. */
export const QEMU_CONF = '/etc/libvirt/qemu.conf';

/** `nova_compute_driver` inventory values: short names or a full class path. */
export const COMPUTE_DRIVERS: Readonly<Record<string, string>> = {
  libvirt: 'libvirt.LibvirtDriver',
  fake: 'fake.FakeDriver',
};

export const NOVA_CONF = '/etc/nova/nova.conf';
export const PLACEMENT_CONF = '/etc/placement/placement.conf';
export const SQLITE_LEFTOVER = '/var/lib/nova/nova.sqlite';
export const LOCK_PATH = '/var/lib/nova/tmp';
export const API_PORT = 8774;
export const PLACEMENT_PORT = 8778;
export const NOVNC_PORT = 6080;
export const NEUTRON_PORT = 9696;
export const GLANCE_PORT = 9292;
