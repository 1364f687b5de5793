import { isMain, main } from '../lib/cli/cli.js';
import { lifecyclePlays } from '../lib/core/lifecycle.js';
import { openstackPlaybook } from '../openstack/playbook.js';
import { cloudPlays } from './site.js';

/** Stops the cloud's services in the reverse of their dependency order (agents first, the databases last), leaving them enabled at boot: `npx tsx playbooks/stop.ts -i hosts/lab.ini [-l compute]`. */
export const stop = openstackPlaybook('stop', lifecyclePlays(cloudPlays(), 'stop'));

if (isMain(import.meta.url)) await main(stop);
