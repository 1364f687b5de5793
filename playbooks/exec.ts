import { exitWith, isMain } from '../lib/cli/cli.js';
import { runAdhoc } from '../lib/cli/adhoc.js';

/**
 * Ad-hoc commands on the hosts of a pattern (lib/cli/adhoc.ts):
 *   npx tsx playbooks/exec.ts -l compute -- systemctl status nova-compute
 *   npx tsx playbooks/exec.ts -l compute --module service name=nova-compute state=restarted
 */
if (isMain(import.meta.url)) await exitWith(() => runAdhoc(process.argv.slice(2)));
