import { checkInput, takeOption } from '../lib/cli/argv.js';
import { EXIT_BAD_INPUT, isMain, parseCli, runPlaybook, type CliIo } from '../lib/cli/cli.js';
import { Redactor } from '../lib/core/secret.js';
import { loadInventory } from '../lib/inventory/inventory.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';
import { backupFirst } from './backup.js';
import { site } from './site.js';

/**
 * Day-2 password rotation (issue 17):
 *
 *   npx tsx playbooks/rotate-passwords.ts -i hosts/lab.ini --secrets admin_pass,nova_pass   (or --secrets all)
 *
 * First a backup (playbooks/backup.ts, its own recap), then new values for
 * the named secrets in the secrets file and the site with them: the site
 * sets them in MariaDB, RabbitMQ and keystone (each checks the password in
 * use, not a record of it), rewrites every configuration file that holds
 * one, and its handlers restart only the services whose files changed. The
 * old values stay known to the run's redactor: a diff of a file that held
 * one shows it masked. Should the site fail halfway, run the site again: it
 * converges to the new values, which are already saved.
 */

/** `--secrets NAMES` (or `--secrets=NAMES`) out of the command line; the rest is the shared CLI's. */
function splitSecrets(argv: readonly string[]): { names: string[] | 'all' | undefined; rest: string[] } {
  const { value, rest } = takeOption(argv, ['--secrets']);
  const names =
    value === undefined
      ? undefined
      : value.trim() === 'all'
        ? 'all'
        : value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
  return { names, rest };
}

export async function rotatePasswords(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { names, rest } = splitSecrets(argv);
  if (names === undefined || (names !== 'all' && names.length === 0)) {
    io.stderr.write('error: --secrets: name the secrets to rotate (comma separated, as in the secrets file), or all\n');
    return EXIT_BAD_INPUT;
  }
  // Bad names stop here, before the backup touches any host.
  const checked = await checkInput(io, async () => {
    const options = parseCli(rest, 'rotate-passwords', io);
    const inventory = await loadInventory(options.inventory);
    const defaultPassword = inventory.groups.get('all')?.vars.get('default_password')?.value;
    SecretStore.besideInventory(options.inventory, new Redactor(), defaultPassword).rotate(names, { persist: false });
  });
  if ('exit' in checked) return checked.exit;
  const backedUp = await backupFirst(rest, io, 'rotate-passwords');
  if (backedUp !== 0) return backedUp;
  return runPlaybook(site, rest, io, {
    prepareSecrets: (secrets, options) => {
      const rotated = secrets.rotate(names, { persist: !options.check && options.plan === undefined });
      io.stdout.write(`rotating ${rotated.length} secret(s): ${rotated.join(', ')}\n`);
    },
  });
}

if (isMain(import.meta.url)) process.exitCode = await rotatePasswords(process.argv.slice(2));
