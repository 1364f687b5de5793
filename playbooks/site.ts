import { isMain, main } from '../lib/cli.js';
import { playbook } from '../lib/playbook.js';
import { common } from '../roles/common/index.js';

/** The whole deployment, in the order the install guides follow. */
export const site = playbook('site', [{ name: 'common: names, repositories, time', hosts: 'all', roles: [common] }]);

if (isMain(import.meta.url)) await main(site);
