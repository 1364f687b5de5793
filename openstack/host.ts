import type { HostContext } from '../lib/core/playbook.js';
import { OS, type OsPlatform } from './platform.js';
import { Secret } from '../lib/core/secret.js';
import type { Task, TaskOptions } from '../lib/core/task.js';
import { ABSENT, type IniSections } from '../lib/modules/ini.js';
import type { KeystoneAuth } from './keystone/client.js';
import { keystoneEndpoint, keystoneRoleAssignment, keystoneService, keystoneUser } from './keystone/tasks.js';
import { mysqlDatabase, mysqlUser } from '../lib/modules/mysql.js';
import { packages } from '../lib/modules/package.js';
import { coreVars, RELEASE, type CoreVars, type OsFamily, type Release, type ReleaseProfile } from './release.js';

/**
 * What every OpenStack role needs to know about a host, derived once from
 * its variables: release, OS, the controller's address, secrets named after
 * the install guides' placeholders (NOVA_DBPASS → `nova_dbpass`), and the
 * settings every service shares (database URL, messaging, keystone_authtoken)
 * as data per release.
 */

/** A service whose config files hold its passwords, named as its system group (the same on every OS family). */
export type ServiceGroup = 'keystone' | 'glance' | 'nova' | 'placement' | 'neutron' | 'cinder' | 'heat' | 'ceilometer';

/** Mode and ownership of a config file that holds secrets (database URLs, service passwords, tokens). */
export interface SecretFileAttributes {
  readonly mode: string;
  readonly owner: string;
  readonly group: ServiceGroup;
}

export interface EndpointUrls {
  readonly publicUrl: string;
  readonly internalUrl: string;
  readonly adminUrl: string;
}

export class OpenStackHost {
  readonly core: CoreVars;
  readonly profile: ReleaseProfile;
  readonly os: OsPlatform;

  constructor(readonly ctx: HostContext) {
    this.core = coreVars(ctx.inventory, ctx.vars);
    this.profile = RELEASE[this.core.release];
    this.os = OS[this.core.osFamily];
  }

  get release(): Release {
    return this.core.release;
  }
  get family(): OsFamily {
    return this.core.osFamily;
  }
  /** Host name or address used in every service URL. */
  get controller(): string {
    return this.core.controllerAddress;
  }
  get host(): string {
    return this.ctx.host;
  }
  /**
   * Inventory `openstack_api_workers`: worker processes of each API Debian runs
   * under uwsgi (openstack/uwsgi.ts); unset, one per CPU of the host, at most 5.
   */
  get apiWorkers(): number | undefined {
    const vars = this.ctx.vars;
    if (vars.opt('openstack_api_workers') === undefined) return undefined;
    const n = vars.int('openstack_api_workers');
    if (n < 1) throw vars.bad('openstack_api_workers', 'must be at least 1');
    return n;
  }
  inGroup(group: string): boolean {
    return this.ctx.groups.includes(group);
  }

  /** A secret by the guide's placeholder name, lower case: `secret('admin_token')`. */
  secret(name: string): Secret {
    return this.ctx.secret(name);
  }
  /** The keystone password of a service user (NOVA_PASS). */
  servicePassword(service: string): Secret {
    return this.secret(`${service}_pass`);
  }
  /** The database password of a service (NOVA_DBPASS). */
  dbPassword(service: string): Secret {
    return this.secret(`${service}_dbpass`);
  }

  /** `mysql://nova:NOVA_DBPASS@controller/nova` — a Secret, since it holds the password (URL-encoded: `p@ss/w#rd` stays one password). */
  dbConnection(service: string, database = service): Secret {
    return new Secret(`${this.profile.dbScheme}://${service}:${encodeURIComponent(this.dbPassword(service).reveal())}@${this.controller}/${database}`);
  }

  /** Install packages with the host's package manager (services held back where the OS starts them on install). */
  packages<H extends string = never>(names: readonly string[], options?: TaskOptions<H>): Task<H> {
    return packages({ names, manager: this.os.packageManager, holdServices: this.os.holdServicesOnInstall }, options);
  }

  /** Messaging settings every service shares, by release. */
  messaging(): IniSections {
    const password = this.secret('rabbit_pass');
    switch (this.release) {
      case 'juno':
        return { DEFAULT: { rpc_backend: 'rabbit', rabbit_host: this.controller, rabbit_password: password } };
      case 'liberty':
        return {
          DEFAULT: { rpc_backend: 'rabbit' },
          oslo_messaging_rabbit: { rabbit_host: this.controller, rabbit_userid: this.profile.rabbitUser, rabbit_password: password },
        };
      case 'zed':
        return {
          DEFAULT: { transport_url: new Secret(`rabbit://${this.profile.rabbitUser}:${encodeURIComponent(password.reveal())}@${this.controller}:5672/`) },
        };
    }
  }

  /** `[keystone_authtoken]` (and `auth_strategy`) for a service user, by release. */
  authtoken(service: string): IniSections {
    const password = this.servicePassword(service);
    const c = this.controller;
    switch (this.release) {
      case 'juno':
        return {
          DEFAULT: { auth_strategy: 'keystone' },
          keystone_authtoken: {
            auth_uri: `http://${c}:5000/v2.0`,
            identity_uri: `http://${c}:35357`,
            admin_tenant_name: 'service',
            admin_user: service,
            admin_password: password,
            // Seed 004 §5–8: identity_uri replaces these; left in, they override it.
            auth_host: ABSENT,
            auth_port: ABSENT,
            auth_protocol: ABSENT,
          },
        };
      case 'liberty':
        return {
          DEFAULT: { auth_strategy: 'keystone' },
          keystone_authtoken: {
            auth_uri: `http://${c}:5000`,
            auth_url: `http://${c}:35357`,
            auth_plugin: 'password',
            project_domain_id: 'default',
            user_domain_id: 'default',
            project_name: 'service',
            username: service,
            password,
          },
        };
      case 'zed':
        return {
          keystone_authtoken: {
            www_authenticate_uri: `http://${c}:5000/`,
            auth_url: `http://${c}:5000/`,
            memcached_servers: `${c}:11211`,
            auth_type: 'password',
            project_domain_name: 'Default',
            user_domain_name: 'Default',
            project_name: 'service',
            username: service,
            password,
            // Debian's packaged files say `regionOne`; the catalog's region must match.
            region_name: this.core.region,
          },
        };
    }
  }

  /** How roles talk to keystone to register things: the admin token (Juno, Liberty's bootstrap) or admin's password (Zed). */
  keystoneAdmin(): KeystoneAuth {
    const host = this.controller;
    switch (this.release) {
      case 'juno':
        return { version: 'v2.0', host, port: 35357, adminToken: this.secret('admin_token') };
      case 'liberty':
        return { version: 'v3', host, port: 35357, adminToken: this.secret('admin_token') };
      case 'zed':
        return { version: 'v3', host, port: 5000, username: 'admin', password: this.secret('admin_pass'), project: 'admin' };
    }
  }

  /** Keystone's own endpoint URLs, as the guides register them. */
  identityUrls(): EndpointUrls {
    const c = this.controller;
    if (this.release === 'zed') return { publicUrl: `http://${c}:5000/v3/`, internalUrl: `http://${c}:5000/v3/`, adminUrl: `http://${c}:5000/v3/` };
    return { publicUrl: `http://${c}:5000/v2.0`, internalUrl: `http://${c}:5000/v2.0`, adminUrl: `http://${c}:35357/v2.0` };
  }

  /**
   * Mode and owner of a service's config file that holds secrets: root writes it, the service's group
   * reads it, others nothing, as the packages ship them (RDO's `%attr(0640, root, nova)`, Debian's and
   * Ubuntu's postinsts `root:nova`). Given to every `ini` of such a file, so each run corrects a file
   * the package or an earlier run left root:root 0644. The group has the service's name on Ubuntu,
   * Debian and CentOS alike; a family where it differs would get a column in `OS` (platform.ts).
   */
  secretFile(group: ServiceGroup): SecretFileAttributes {
    return { mode: '0640', owner: 'root', group };
  }

  /** Same URL on all three interfaces, e.g. `http://controller:9292`. */
  sameUrls(url: string): EndpointUrls {
    return { publicUrl: url, internalUrl: url, adminUrl: url };
  }
}

/** The service's database and its account, from localhost and anywhere (`'%'`), as every guide does it. */
export function serviceDatabase(o: OpenStackHost, service: string, database = service): Task[] {
  return [
    mysqlDatabase({ name: database }, { tags: ['database'] }),
    mysqlUser(
      { user: service, host: ['localhost', '%'], password: o.dbPassword(service), privileges: [{ database, privileges: 'ALL' }] },
      { tags: ['database'] },
    ),
  ];
}

export interface RegistrationArgs {
  /** Service user and service name, e.g. 'glance'. */
  readonly name: string;
  readonly type: string;
  readonly description: string;
  readonly urls: EndpointUrls;
  /** Whether the service has its own keystone user in the service project (default true). */
  readonly user?: boolean;
  /** Name of the service entity when it differs from the user's (Zed's `cinderv3` entity, used by user `cinder`). */
  readonly serviceName?: string;
}

/** The keystone side of a service: its user with the admin role in `service`, the service entity, the endpoints. */
export function serviceRegistration(o: OpenStackHost, args: RegistrationArgs): Task[] {
  const auth = o.keystoneAdmin();
  const tags = { tags: ['keystone'] };
  return [
    ...(args.user === false
      ? []
      : [
          keystoneUser(auth, { name: args.name, password: o.servicePassword(args.name), project: 'service' }, tags),
          keystoneRoleAssignment(auth, { user: args.name, project: 'service', role: 'admin' }, tags),
        ]),
    keystoneService(auth, { name: args.serviceName ?? args.name, type: args.type, description: args.description }, tags),
    keystoneEndpoint(auth, { service: args.type, region: o.core.region, ...args.urls }, tags),
  ];
}
