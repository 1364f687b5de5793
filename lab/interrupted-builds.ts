/**
 * Cached lab artefacts (the base image, the guest) are built in
 * `<dir>.tmp-<pid>` beside their final directory and renamed into place when
 * complete, so an interrupted build leaves only such a directory behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { procStarttime } from './proc.js';

/**
 * The leftovers of interrupted builds of `dir`, to remove. A build whose
 * process still runs is no leftover: that throws, naming it (`what` says
 * which artefact), rather than pulling the tree from under it.
 */
export function interruptedBuilds(dir: string, what: string): string[] {
  const parent = path.dirname(dir);
  const prefix = `${path.basename(dir)}.tmp-`;
  let entries: string[];
  try {
    entries = fs.readdirSync(parent);
  } catch {
    return [];
  }
  const stale: string[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && procStarttime(pid) !== undefined) {
      throw new Error(`another ${what} build is running (pid ${pid}, ${path.join(parent, entry)}); wait for it`);
    }
    stale.push(path.join(parent, entry));
  }
  return stale;
}
