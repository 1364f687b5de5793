/**
 * Benchmark hosts by hand:
 *   npx tsx bench/cli.ts up N      bring hosts bh001..bhN up (prints the inventory path)
 *   npx tsx bench/cli.ts down      remove every benchmark host, the bridge and mounts
 */
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, down, inventory, up } from './hosts.js';

const [cmd, arg] = process.argv.slice(2);
if (cmd === 'up') {
  const hosts = await up(Number(arg ?? '1'));
  const file = path.join(BENCH_DIR, `hosts-${hosts.length}.ini`);
  fs.writeFileSync(file, inventory(hosts));
  console.log(file);
} else if (cmd === 'down') {
  await down();
} else {
  console.error('usage: bench/cli.ts up N | down');
  process.exitCode = 2;
}
