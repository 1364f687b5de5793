/**
 * The local lab: turns an inventory into hosts on this machine, reached over
 * real SSH like a rack of servers.
 *
 *   npx tsx lab/cli.ts up     [-i hosts/lab.ini]   build/start every host (idempotent)
 *   npx tsx lab/cli.ts status                      table of hosts; exit 1 if one is not answering
 *   npx tsx lab/cli.ts down   [--keep-disks]       remove everything `up` made
 *   npx tsx lab/cli.ts base   [--rebuild]          only (re)build the cached Debian base
 */
import { Command } from 'commander';
import chalk from 'chalk';
import { installInterruptHandlers } from './interrupt.js';
import { buildBase, DEFAULT_INVENTORY, down, status, up } from './lab.js';

const program = new Command().name('lab').description('stackplay local lab: inventory hosts as network namespaces with sshd, reached over SSH');

program
  .command('up')
  .description('bring every inventory host up (builds the cached base on first use); running it again changes nothing')
  .option('-i, --inventory <file>', 'inventory', DEFAULT_INVENTORY)
  .action(async (opts: { inventory: string }) => up(opts.inventory));

program
  .command('down')
  .description('stop and remove every host, namespace, mount, veth, bridge and process the lab made')
  .option('-i, --inventory <file>', 'ignored: down removes what the state file records', DEFAULT_INVENTORY)
  .option('--keep-disks', "keep the hosts' disks (installed packages) for the next up")
  .action(async (opts: { keepDisks?: boolean }) => down({ keepDisks: opts.keepDisks === true }));

program
  .command('status')
  .description('host, address, sshd reachable on :22, uptime')
  .option('-i, --inventory <file>', 'ignored: status reports what the state file records', DEFAULT_INVENTORY)
  .action(async () => {
    if (!(await status())) process.exitCode = 1;
  });

program
  .command('base')
  .description('build the cached Debian base image only (e.g. in a CI setup step)')
  .option('--rebuild', 'throw the cached base away first (lab must be down)')
  .action(async (opts: { rebuild?: boolean }) => buildBase(opts.rebuild === true));

installInterruptHandlers();
try {
  await program.parseAsync();
} catch (err) {
  console.error(chalk.red(`lab: ${err instanceof Error ? err.message : String(err)}`));
  process.exitCode = 1;
}
