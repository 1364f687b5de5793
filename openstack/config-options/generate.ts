/**
 * Builds one option catalog (openstack/config-options/<release>/<path>.json)
 * from sample config files: every option a sample declares, commented out or
 * set, by section, plus the old names its `Deprecated group/name` lines still
 * accept. How each catalog was made is in README.md beside this script.
 *
 *   npx tsx openstack/config-options/generate.ts <release> <target path> <source label> <sample file>…
 *
 * Several samples are unioned (Juno's ml2_conf.ini also holds the OVS agent's
 * [ovs]/[agent] options, whose sample is ovs_neutron_plugin.ini).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalizeOption, type OptionCatalogFile } from '../config-catalog.js';

/** `#name = value`, `# name = value` or `name = value`; prose lines have no `=` right after one word. */
const OPTION = /^#?\s?([A-Za-z_][A-Za-z0-9_.-]*)\s*=/;
const SECTION = /^\[([^\]\s]+)\]\s*$/;
/** oslo-config-generator: `# Deprecated group/name - [DEFAULT]/old_name`. */
const DEPRECATED = /^#\s*Deprecated group\/name - \[([^\]]+)\]\/(\S+)/;

export function optionsOfSample(text: string, into: Map<string, Set<string>> = new Map()): Map<string, Set<string>> {
  let section: string | undefined;
  const add = (s: string, name: string) => {
    let set = into.get(s);
    if (!set) into.set(s, (set = new Set()));
    set.add(normalizeOption(name));
  };
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    const s = SECTION.exec(line) ?? /^#\s?\[([^\]\s]+)\]\s*$/.exec(line);
    if (s) {
      section = s[1]!;
      if (!into.has(section)) into.set(section, new Set());
      continue;
    }
    const d = DEPRECATED.exec(line);
    if (d) {
      add(d[1]!, d[2]!);
      continue;
    }
    const o = OPTION.exec(line);
    if (o && section !== undefined) add(section, o[1]!);
  }
  return into;
}

async function main(argv: readonly string[]): Promise<void> {
  const [release, target, source, ...samples] = argv;
  if (!release || !target?.startsWith('/') || !source || samples.length === 0) {
    throw new Error('usage: generate.ts <release> <target path> <source label> <sample file>…');
  }
  const sections = new Map<string, Set<string>>();
  for (const sample of samples) optionsOfSample(await readFile(sample, 'utf8'), sections);
  const catalog: OptionCatalogFile = {
    source,
    sections: Object.fromEntries([...sections].sort(([a], [b]) => a.localeCompare(b)).map(([s, names]) => [s, [...names].sort()])),
  };
  const out = join(dirname(fileURLToPath(import.meta.url)), release, `${target.slice(1)}.json`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(`${out}.tmp`, `${JSON.stringify(catalog, null, 1)}\n`);
  await rename(`${out}.tmp`, out);
  const count = Object.values(catalog.sections).reduce((n, names) => n + names.length, 0);
  process.stdout.write(`${out}: ${Object.keys(catalog.sections).length} sections, ${count} options\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
