import { InputError } from '../lib/core/errors.js';
import { isMain, main, type RunHooks } from '../lib/cli/cli.js';
import { hostDaemons } from '../lib/core/lifecycle.js';
import { defineRole, type HostContext, type Play } from '../lib/core/playbook.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';
import { allOf } from '../lib/modules/all-of.js';
import { restoreDatabases, restoreFiles } from '../lib/modules/backup.js';
import { service } from '../lib/modules/service.js';
import { openstackPlaybook } from '../openstack/playbook.js';
import { backupSettings, isDatabaseHost, secretsPaths } from './backup.js';
import { cloudPlays, sitePlays } from './site.js';

/**
 * Day-2 restore (issue 17) of a backup taken by playbooks/backup.ts:
 *
 *   npx tsx playbooks/restore.ts -i hosts/lab.ini -e backup_name=before-upgrade [-e restore_databases=all|nova,glance]
 *
 * The secrets file comes back first (before any role reads a secret), then
 * on each host the configuration files that differ from the backup and the
 * databases that are missing or have other tables than in the backup
 * (`restore_databases` restores others too, whatever their state); a host
 * where anything came back restarts its services, in deployment order. Then
 * the site runs, converging what the backup does not hold (MariaDB,
 * RabbitMQ and keystone passwords) to the restored secrets.
 */

function restoreRole(ctx: HostContext) {
  const s = backupSettings(ctx);
  const forced = ctx.vars.str('restore_databases', '');
  const force =
    forced === 'all'
      ? 'all'
      : forced
          .split(',')
          .map((d) => d.trim())
          .filter(Boolean);
  const daemons = hostDaemons(cloudPlays(), ctx);
  const restart = allOf(
    'restart every service of this host',
    daemons.map((name) => service({ name, state: 'restarted' })),
  );
  return defineRole('restore', { restart }).tasks([
    restoreFiles({ dir: s.dir, name: s.name }, { notify: ['restart'] }),
    ...(isDatabaseHost(ctx) ? [restoreDatabases({ dir: s.dir, name: s.name, force }, { notify: ['restart'] })] : []),
  ]);
}

export const restorePlays: readonly Play[] = [{ name: 'restore: configuration and databases', hosts: 'all', roles: [restoreRole] }, ...sitePlays];

/** Puts the backup's secrets back before the roles read them. */
export const restoreSecrets: RunHooks['prepareSecrets'] = (secrets, options) => {
  const name = options.extraVars.map((v) => /^backup_name=(.+)$/.exec(v)?.[1]).find((v) => v !== undefined);
  if (name === undefined) throw new InputError('-e backup_name', 0, 'restore needs the name of a backup: -e backup_name=NAME');
  const copy = secretsPaths(options.inventory, name).copy;
  if (secrets.defaultPassword) return;
  const kept = new SecretStore(copy, secrets.redactor);
  if (kept.names().length === 0) throw new InputError(copy, 0, `no secrets file in backup ${name} (was it taken with this inventory?)`);
  secrets.restoreFrom(kept, { persist: !options.check && options.plan === undefined });
};

export const restore = openstackPlaybook('restore', restorePlays);

if (isMain(import.meta.url)) await main(restore, process.argv.slice(2), { prepareSecrets: restoreSecrets });
