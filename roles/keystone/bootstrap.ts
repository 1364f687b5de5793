import { pathFact } from '../../lib/modules/facts.js';
import { simulateBootstrap } from '../../openstack/keystone/sim.js';
import type { Secret } from '../../lib/core/secret.js';
import { sh, withStdin } from '../../lib/core/shell.js';
import { makeTask, noChange, type ApiFact, type Plan, type Task, type TaskOptions } from '../../lib/core/task.js';
import type { EndpointUrls } from '../../openstack/host.js';
import { UnreachableError } from '../../lib/transport/transport.js';

/**
 * `keystone-manage bootstrap` (Zed guide, keystone-install): creates the
 * admin user, project and role, the `member`/`reader` roles, the identity
 * service and its endpoints — and, run again, resets admin's password when
 * it no longer works (keystone's bootstrap checks it before updating).
 *
 * The guide passes `--bootstrap-password ADMIN_PASS`, which any user can
 * read in `ps`. keystone-manage also reads `OS_BOOTSTRAP_PASSWORD` from its
 * environment: the script reads the password from a here-document into a
 * shell variable (`read` is a builtin: no new process, no argv) and exports
 * it for keystone-manage alone.
 *
 * It runs when this host has no record of a bootstrap (the marker, written
 * by the same script after bootstrap succeeded) or when admin cannot log in
 * with its password (seed 004 §11's lesson for credentials applied here:
 * checked on every run, not assumed).
 */

export const BOOTSTRAP_MARKER = '/var/lib/keystone/.stackplay-bootstrapped';

export interface BootstrapArgs {
  /** Address and port of keystone as the controller reaches it. */
  readonly host: string;
  readonly port: number;
  readonly adminPassword: Secret;
  readonly urls: EndpointUrls;
  readonly region: string;
}

export type AdminLogin = 'ok' | 'refused' | 'unreachable';

const DELAYS_MS = [500, 1000, 2000, 4000];
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether admin logs in with the password (project admin, domain Default), as the openrc does. */
export function adminLoginFact(args: BootstrapArgs): ApiFact<AdminLogin> {
  const body = JSON.stringify({
    auth: {
      identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password: args.adminPassword.reveal() } } },
      scope: { project: { name: 'admin', domain: { id: 'default' } } },
    },
  });
  return {
    kind: 'api',
    async run(http) {
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await http({
            method: 'POST',
            host: args.host,
            port: args.port,
            path: '/v3/auth/tokens',
            headers: { 'content-type': 'application/json', accept: 'application/json' },
            body,
          });
          if (res.status === 201 || res.status === 200) return 'ok';
          if (res.status === 401) return 'refused';
          if (res.status !== 503) return 'unreachable';
        } catch (error) {
          if (error instanceof UnreachableError) throw error;
        }
        // Keystone may be coming back from the restart a handler just made.
        const delay = DELAYS_MS[attempt];
        if (delay === undefined) return 'unreachable';
        await sleep(delay);
      }
    },
  };
}

export function keystoneBootstrap<H extends string = never>(args: BootstrapArgs, options?: TaskOptions<H>): Task<H> {
  const cmd = sh`${withStdin(sh`IFS= read -r OS_BOOTSTRAP_PASSWORD`, args.adminPassword)}
export OS_BOOTSTRAP_PASSWORD
keystone-manage bootstrap --bootstrap-admin-url ${args.urls.adminUrl} --bootstrap-internal-url ${args.urls.internalUrl} --bootstrap-public-url ${args.urls.publicUrl} --bootstrap-region-id ${args.region} || exit $?
unset OS_BOOTSTRAP_PASSWORD
mkdir -p /var/lib/keystone && touch ${BOOTSTRAP_MARKER}`;
  return makeTask({
    module: 'command',
    name: 'keystone-manage bootstrap (admin user, project and role; identity endpoints)',
    options,
    facts: { marker: pathFact(BOOTSTRAP_MARKER), login: adminLoginFact(args) },
    plan: ({ marker, login }): Plan => {
      if (marker && login === 'ok') return noChange('bootstrapped, and admin logs in with its password');
      const why = !marker
        ? 'not bootstrapped yet'
        : login === 'refused'
          ? "admin's password does not work: bootstrap resets it"
          : 'keystone did not answer: bootstrap again (it only adds what is missing)';
      return {
        action: 'change',
        summary: `keystone-manage bootstrap: ${why}`,
        steps: [
          {
            kind: 'exec',
            cmd,
            simulate: (h) => {
              h.materialize(BOOTSTRAP_MARKER);
              simulateBootstrap(h.network, { adminPassword: args.adminPassword.reveal(), region: args.region, urls: args.urls });
            },
          },
        ],
      };
    },
  });
}
