import { basename, dirname, join, resolve } from 'node:path';
import { isMain, main, runPlaybook, type CliIo } from '../lib/cli/cli.js';
import { selectHosts } from '../lib/inventory/inventory.js';
import { defineRole, type HostContext, type Play } from '../lib/core/playbook.js';
import { backupArchive, secretFileCopy } from '../lib/modules/backup.js';
import { openstackPlaybook } from '../openstack/playbook.js';
import { plays as mariadb } from '../roles/mariadb/index.js';

/**
 * Day-2 backup (issue 17): on every host a dated archive of each service's
 * configuration (keystone's fernet and credential keys are in /etc/keystone),
 * on the database host a consistent dump of every database too, kept on the
 * host in `backup_dir` (0700, archives 0600), the newest `backup_keep`; and
 * the inventory's secrets file copied beside the inventory
 * (`<inventory>.backups/<name>.secrets.ini`, 0600).
 *
 *   npx tsx playbooks/backup.ts -i hosts/lab.ini [-e backup_name=before-upgrade]
 *
 * `backup_name` defaults to the time of the run (UTC, to the minute); a
 * backup of a name that exists is not taken again, so re-running is safe.
 */

/** The services' configuration, on whichever hosts have it (not /etc/hosts or libvirt's and OVS's own state: the site converges those). */
export const CONFIG_PATHS = [
  '/etc/keystone',
  '/etc/glance',
  '/etc/nova',
  '/etc/placement',
  '/etc/neutron',
  '/etc/cinder',
  '/etc/openstack-dashboard',
  '/etc/heat',
  '/etc/ceilometer',
  '/etc/mysql',
  '/etc/rabbitmq',
  '/etc/memcached.conf',
  '/etc/apache2',
] as const;

const RUN_STAMP = new Date().toISOString().replace(/[-:]/g, '').slice(0, 13) + 'Z';

export interface BackupSettings {
  readonly name: string;
  readonly dir: string;
  readonly keep: number;
}

export function backupSettings(ctx: HostContext): BackupSettings {
  return {
    name: ctx.vars.str('backup_name', RUN_STAMP),
    dir: ctx.vars.str('backup_dir', '/var/backups/stackplay'),
    keep: ctx.vars.int('backup_keep', 7),
  };
}

/** Where the secrets file of an inventory and its backup copies live on this machine. */
export function secretsPaths(inventoryFile: string, name: string): { file: string; backups: string; copy: string } {
  const inv = basename(inventoryFile).replace(/\.(ini|cfg|txt)$/, '');
  const dir = dirname(resolve(inventoryFile));
  const backups = join(dir, `${inv}.backups`);
  return { file: join(dir, `${inv}.secrets.ini`), backups, copy: join(backups, `${name}.secrets.ini`) };
}

/** Whether the host of `ctx` runs the SQL database. */
export function isDatabaseHost(ctx: HostContext): boolean {
  return mariadb.some((p) => {
    try {
      return selectHosts(ctx.inventory, p.hosts).includes(ctx.host);
    } catch {
      return false;
    }
  });
}

export function backupPlays(): Play[] {
  return [
    {
      name: 'backup: the secrets file (this machine)',
      hosts: 'localhost',
      roles: [
        (ctx) => {
          const s = backupSettings(ctx);
          const p = secretsPaths(ctx.inventory.file, s.name);
          return defineRole('backup').tasks([secretFileCopy({ src: p.file, dest: p.copy, keep: s.keep, suffix: '.secrets.ini' })]);
        },
      ],
    },
    {
      name: 'backup: configuration and databases',
      hosts: 'all',
      roles: [(ctx) => defineRole('backup').tasks([backupArchive({ ...backupSettings(ctx), paths: CONFIG_PATHS, databases: isDatabaseHost(ctx) })])],
    },
  ];
}

export const backup = openstackPlaybook('backup', backupPlays());

if (isMain(import.meta.url)) await main(backup);

/** A backup before a day-2 change (rotation, removal), with the same command line: its exit code (the change must not start unless 0). */
export async function backupFirst(argv: readonly string[], io: CliIo, change: string): Promise<number> {
  const code = await runPlaybook(backup, argv, io);
  if (code !== 0) io.stderr.write(`${change}: the backup failed; nothing was changed\n`);
  return code;
}
