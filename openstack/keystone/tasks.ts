import { apiTaskKit, changePlan as change, compareFields, enableField } from '../../lib/api/task-kit.js';
import type { Secret } from '../../lib/core/secret.js';
import { noChange, type ApiStep, type Plan, type Task, type TaskOptions } from '../../lib/core/task.js';
import { KeystoneClient, type KeystoneAuth, type KsEndpointV2, type KsEndpointV3, type KsInterface, type KsService } from './client.js';

/**
 * Keystone task modules: projects, users, roles, grants, services and
 * endpoints, as the `keystone` (v2.0, Juno) and `openstack` (v3, Liberty …
 * Zed) CLIs create them. Facts read through KeystoneClient; plans compare
 * fields and update what differs.
 */

// ---- task plumbing ----------------------------------------------------------

const { task, step: apiStep, need, update } = apiTaskKit('keystone', (target: KeystoneAuth, http) => new KeystoneClient(target, http));

const inDomain = (domain: string | undefined) => (domain && domain !== 'default' ? ` in domain ${domain}` : '');

/** A description the task may set, shown quoted: `description "" → "Demo"`. */
const description = (have: string, want: string | undefined) => ({ have, want, show: (d: string | null) => JSON.stringify(d) });

// ---- projects ---------------------------------------------------------------

export interface KeystoneProjectArgs {
  readonly name: string;
  readonly description?: string;
  /** v3 only: domain name or id, default 'default'. */
  readonly domain?: string;
}

export function keystoneProject<H extends string = never>(auth: KeystoneAuth, args: KeystoneProjectArgs, options?: TaskOptions<H>): Task<H> {
  const label = `keystone project ${args.name}${inDomain(args.domain)}`;
  return task(auth, 'keystone_project', label, options, {
    read: async (ks) => {
      const domainId = await ks.domainId(args.domain);
      return { domainId, project: await ks.findProject(args.name, domainId) };
    },
    plan: ({ domainId, project }) => {
      if (!project) {
        return change(`create project ${args.name}`, [
          apiStep(auth, `create ${label}`, (ks) => ks.createProject({ name: args.name, description: args.description, domainId })),
        ]);
      }
      const diff = compareFields({ description: description(project.description, args.description), enabled: enableField(project.enabled) });
      return update(auth, diff, { subject: `project ${args.name}`, label, unchanged: `project ${args.name} exists (${project.id})` }, (ks, patch) =>
        ks.updateProject(project.id, patch),
      );
    },
  });
}

// ---- users ------------------------------------------------------------------

export interface KeystoneUserArgs {
  readonly name: string;
  /** Set on creation; later runs check it by logging in and reset it only when that fails. */
  readonly password: Secret;
  /** Default project (v2.0 tenant), in the user's domain. */
  readonly project?: string;
  readonly email?: string;
  /** v3 only, default 'default'. */
  readonly domain?: string;
}

export function keystoneUser<H extends string = never>(auth: KeystoneAuth, args: KeystoneUserArgs, options?: TaskOptions<H>): Task<H> {
  const label = `keystone user ${args.name}${inDomain(args.domain)}`;
  const projectLookup = (ks: KeystoneClient, domainId: string | null) => async () =>
    args.project === undefined ? null : ((await ks.findProject(args.project, domainId))?.id ?? null);
  return task(auth, 'keystone_user', label, options, {
    read: async (ks) => {
      const domainId = await ks.domainId(args.domain);
      const [u, projectId] = await Promise.all([ks.findUser(args.name, domainId), projectLookup(ks, domainId)()]);
      // A disabled user cannot log in whatever its password: the plan enables it and sets the password.
      const passwordOk = u && u.enabled ? await ks.passwordWorks(u, args.password) : null;
      return { domainId, user: u, projectId, passwordOk };
    },
    plan: ({ domainId, user: u, projectId, passwordOk }) => {
      const resolveProject = (ks: KeystoneClient) =>
        args.project === undefined ? Promise.resolve(null) : need(projectId, projectLookup(ks, domainId), `project ${args.project}`);
      if (!u) {
        return change(`create user ${args.name}${args.project ? ` (project ${args.project})` : ''}`, [
          apiStep(auth, `create ${label}${args.project ? ` project=${args.project}` : ''} password=***`, async (ks) =>
            ks.createUser({ name: args.name, password: args.password, email: args.email, projectId: await resolveProject(ks), domainId }),
          ),
        ]);
      }
      const diff = compareFields({
        email: { have: u.email, want: args.email },
        // A project not created yet (null) is not the user's either; its id is looked up when the step runs.
        projectId: {
          have: u.projectId,
          want: args.project === undefined ? undefined : projectId,
          same: (have, want) => want !== null && have === want,
          say: () => `project → ${args.project}`,
        },
        enabled: enableField(u.enabled),
      });
      const what = [...diff.what];
      const steps: ApiStep[] = [];
      if (what.length > 0) {
        const { projectId: newProject, ...patch } = diff.patch;
        steps.push(
          apiStep(auth, `update ${label}: ${what.join(', ')}`, async (ks) =>
            ks.updateUser(u.id, { ...patch, ...(newProject !== undefined ? { projectId: (await resolveProject(ks)) ?? '' } : {}) }),
          ),
        );
      }
      if (passwordOk !== true) {
        what.push(passwordOk === false ? 'reset password (logging in with it failed)' : 'set password');
        steps.push(apiStep(auth, `set password of ${label} password=***`, (ks) => ks.setPassword(u.id, args.password)));
      }
      if (steps.length === 0) return noChange(`user ${args.name} exists (${u.id}) and its password works`);
      return change(`user ${args.name}: ${what.join(', ')}`, steps);
    },
  });
}

// ---- roles ------------------------------------------------------------------

export function keystoneRole<H extends string = never>(auth: KeystoneAuth, args: { readonly name: string }, options?: TaskOptions<H>): Task<H> {
  return task(auth, 'keystone_role', `keystone role ${args.name}`, options, {
    read: (ks) => ks.findRole(args.name),
    plan: (current) =>
      current
        ? noChange(`role ${args.name} exists (${current.id})`)
        : change(`create role ${args.name}`, [apiStep(auth, `create keystone role ${args.name}`, (ks) => ks.createRole(args.name))]),
  });
}

export interface KeystoneRoleAssignmentArgs {
  readonly user: string;
  readonly project: string;
  readonly role: string;
  /** v3 only: domain of the user and the project, default 'default'. */
  readonly domain?: string;
}

export function keystoneRoleAssignment<H extends string = never>(auth: KeystoneAuth, args: KeystoneRoleAssignmentArgs, options?: TaskOptions<H>): Task<H> {
  const label = `keystone role ${args.role} for user ${args.user} on project ${args.project}${inDomain(args.domain)}`;
  return task(auth, 'keystone_role_assignment', label, options, {
    read: async (ks) => {
      const domainId = await ks.domainId(args.domain);
      // Three independent lookups (~75 ms each on a small controller): side by side.
      const [u, p, r] = await Promise.all([ks.findUser(args.user, domainId), ks.findProject(args.project, domainId), ks.findRole(args.role)]);
      const granted = u && p && r ? await ks.hasRole(u.id, p.id, r.id) : false;
      return { domainId, userId: u?.id ?? null, projectId: p?.id ?? null, roleId: r?.id ?? null, granted };
    },
    plan: ({ domainId, userId, projectId, roleId, granted }) => {
      if (granted) return noChange(`user ${args.user} has role ${args.role} on project ${args.project}`);
      const missing = [userId ? '' : `user ${args.user}`, projectId ? '' : `project ${args.project}`, roleId ? '' : `role ${args.role}`].filter((s) => s);
      return change(
        `grant role ${args.role} to user ${args.user} on project ${args.project}${missing.length ? ` (${missing.join(', ')} not created yet)` : ''}`,
        [
          apiStep(auth, `grant ${label}`, async (ks) => {
            const uid = await need(userId, async () => (await ks.findUser(args.user, domainId))?.id ?? null, `user ${args.user}`);
            const pid = await need(projectId, async () => (await ks.findProject(args.project, domainId))?.id ?? null, `project ${args.project}`);
            const rid = await need(roleId, async () => (await ks.findRole(args.role))?.id ?? null, `role ${args.role}`);
            await ks.grant(uid, pid, rid);
          }),
        ],
      );
    },
  });
}

// ---- services ---------------------------------------------------------------

export interface KeystoneServiceArgs {
  readonly name: string;
  readonly type: string;
  readonly description?: string;
}

export function keystoneService<H extends string = never>(auth: KeystoneAuth, args: KeystoneServiceArgs, options?: TaskOptions<H>): Task<H> {
  const label = `keystone service ${args.name} (${args.type})`;
  return task(auth, 'keystone_service', label, options, {
    // Identity is the pair (name, type), as `service-create` allows duplicates of either.
    read: async (ks) => (await ks.services({ type: args.type })).find((s) => s.name === args.name) ?? null,
    plan: (current) => {
      if (!current) return change(`create service ${args.name} of type ${args.type}`, [apiStep(auth, `create ${label}`, (ks) => ks.createService(args))]);
      const diff = compareFields({ description: description(current.description, args.description), enabled: enableField(current.enabled) });
      const unchanged = `service ${args.name} exists (${current.id})`;
      if (auth.version === 'v2.0') {
        // v2.0 cannot update a service, and recreating it would orphan its endpoints.
        const descriptionWrong = diff.patch.description !== undefined;
        return noChange(`${unchanged}${descriptionWrong ? `; its description differs but v2.0 cannot update services` : ''}`);
      }
      return update(auth, diff, { subject: `service ${args.name}`, label, unchanged }, (ks, patch) => ks.updateService(current.id, patch));
    },
  });
}

// ---- endpoints --------------------------------------------------------------

export interface KeystoneEndpointArgs {
  /** Service type (as the catalog is read) or name. */
  readonly service: string;
  readonly region: string;
  readonly publicUrl: string;
  readonly internalUrl: string;
  readonly adminUrl: string;
}

type EndpointFact =
  | { readonly version: 'v2.0'; readonly service: KsService | null; readonly records: readonly KsEndpointV2[] }
  | { readonly version: 'v3'; readonly service: KsService | null; readonly regionExists: boolean; readonly endpoints: readonly KsEndpointV3[] };

export function keystoneEndpoint<H extends string = never>(auth: KeystoneAuth, args: KeystoneEndpointArgs, options?: TaskOptions<H>): Task<H> {
  const label = `keystone endpoints ${args.service} ${args.region}`;
  const urls: Record<KsInterface, string> = { public: args.publicUrl, internal: args.internalUrl, admin: args.adminUrl };
  return task(auth, 'keystone_endpoint', label, options, {
    read: async (ks): Promise<EndpointFact> => {
      const s = await ks.resolveService(args.service);
      if (auth.version === 'v2.0') return { version: 'v2.0', service: s, records: s ? await ks.endpointsV2(s.id, args.region) : [] };
      const [regionExists, endpoints] = await Promise.all([ks.regionExists(args.region), s ? ks.endpointsV3(s.id, args.region) : []]);
      return { version: 'v3', service: s, regionExists, endpoints };
    },
    plan: (current) => {
      const serviceId = (ks: KeystoneClient) =>
        need(current.service?.id ?? null, async () => (await ks.resolveService(args.service))?.id ?? null, `service ${args.service}`);
      const pending = current.service ? '' : ` (service ${args.service} not created yet)`;
      return current.version === 'v2.0' ? planV2(current.records) : planV3(current.regionExists, current.endpoints);

      function planV2(records: readonly KsEndpointV2[]): Plan {
        const matches = (e: KsEndpointV2) => e.publicUrl === urls.public && e.internalUrl === urls.internal && e.adminUrl === urls.admin;
        const keep = records.find(matches);
        if (keep && records.length === 1) return noChange(`endpoint ${keep.id} of ${args.service} in ${args.region} has the 3 URLs`);
        // v2.0 cannot update an endpoint: create the right one first, then
        // delete the wrong ones, so the catalog never lacks the service.
        const steps: ApiStep[] = [];
        const what: string[] = [];
        if (!keep) {
          const old = records[0];
          const changed = old
            ? compareFields({
                publicurl: { have: old.publicUrl, want: urls.public },
                internalurl: { have: old.internalUrl, want: urls.internal },
                adminurl: { have: old.adminUrl, want: urls.admin },
              }).what
            : [];
          what.push(old ? `replace endpoint ${old.id}: ${changed.join(', ')}` : `create endpoint${pending}`);
          steps.push(
            apiStep(
              auth,
              `create keystone endpoint ${args.service} ${args.region} publicurl=${urls.public} internalurl=${urls.internal} adminurl=${urls.admin}`,
              async (ks) =>
                ks.createEndpointV2({
                  serviceId: await serviceId(ks),
                  region: args.region,
                  publicUrl: urls.public,
                  internalUrl: urls.internal,
                  adminUrl: urls.admin,
                }),
            ),
          );
        }
        for (const e of records) {
          if (e === keep) continue;
          if (keep) what.push(`delete duplicate endpoint ${e.id}`);
          steps.push(apiStep(auth, `delete keystone endpoint ${e.id} (${args.service} ${args.region})`, (ks) => ks.deleteEndpointV2(e.id)));
        }
        return change(`endpoints of ${args.service} in ${args.region}: ${what.join(', ')}`, steps);
      }

      function planV3(regionExists: boolean, endpoints: readonly KsEndpointV3[]): Plan {
        const steps: ApiStep[] = [];
        const what: string[] = [];
        if (!regionExists) {
          what.push(`create region ${args.region}`);
          steps.push(apiStep(auth, `create keystone region ${args.region}`, (ks) => ks.createRegion(args.region)));
        }
        for (const iface of ['public', 'internal', 'admin'] as const) {
          const url = urls[iface];
          const mine = endpoints.filter((e) => e.interface === iface);
          const keep = mine.find((e) => e.url === url && e.enabled) ?? mine.find((e) => e.url === url) ?? mine[0];
          if (!keep) {
            what.push(`create ${iface} ${url}${pending}`);
            steps.push(
              apiStep(auth, `create keystone endpoint ${args.service} ${args.region} ${iface} ${url}`, async (ks) =>
                ks.createEndpointV3({ serviceId: await serviceId(ks), region: args.region, interface: iface, url }),
              ),
            );
          } else {
            // Fixed in place, keeping its id: other tools may refer to it.
            const { patch, what: differs } = compareFields({
              url: { have: keep.url, want: url, label: iface },
              enabled: enableField(keep.enabled, `enable ${iface}`),
            });
            what.push(...differs);
            if (differs.length > 0) {
              steps.push(
                apiStep(auth, `update keystone endpoint ${keep.id} (${args.service} ${args.region} ${iface}) url=${url}`, (ks) =>
                  ks.updateEndpointV3(keep.id, patch),
                ),
              );
            }
          }
          for (const dup of mine) {
            if (dup === keep) continue;
            what.push(`delete duplicate ${iface} endpoint ${dup.id} (${dup.url})`);
            steps.push(apiStep(auth, `delete keystone endpoint ${dup.id} (${args.service} ${args.region} ${iface})`, (ks) => ks.deleteEndpointV3(dup.id)));
          }
        }
        if (steps.length === 0) return noChange(`public, internal and admin endpoints of ${args.service} in ${args.region} match`);
        return change(`endpoints of ${args.service} in ${args.region}: ${what.join(', ')}`, steps);
      }
    },
  });
}
