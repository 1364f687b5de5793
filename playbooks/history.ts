import { isMain } from '../lib/cli/cli.js';
import { runHistory } from '../lib/history/history-cli.js';

/**
 * `npx tsx playbooks/history.ts [list|show|diff|report] …`: the runs recorded
 * beside an inventory (see README, "Run history").
 */
if (isMain(import.meta.url)) process.exitCode = await runHistory(process.argv.slice(2));
