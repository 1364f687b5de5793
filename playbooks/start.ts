import { isMain, main } from '../lib/cli/cli.js';
import { lifecyclePlays } from '../lib/core/lifecycle.js';
import { openstackPlaybook } from '../openstack/playbook.js';
import { cloudPlays } from './site.js';

/** Starts the cloud's services, host by host in dependency order (databases and the queue, then the APIs, then the agents): `npx tsx playbooks/start.ts -i hosts/lab.ini [-l compute]`. */
export const start = openstackPlaybook('start', lifecyclePlays(cloudPlays(), 'start'));

if (isMain(import.meta.url)) await main(start);
