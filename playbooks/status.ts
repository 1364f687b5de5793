import { isMain, main } from '../lib/cli/cli.js';
import { lifecyclePlays } from '../lib/core/lifecycle.js';
import { openstackPlaybook } from '../openstack/playbook.js';
import { cloudPlays } from './site.js';

/** Reports every service of the cloud, host by host (as -v: a line each); exits 2 when one is not running: `npx tsx playbooks/status.ts -i hosts/lab.ini [-l compute]`. */
export const status = openstackPlaybook('status', lifecyclePlays(cloudPlays(), 'status'));

if (isMain(import.meta.url)) await main(status, ['-v', ...process.argv.slice(2)]);
