import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { InputError } from '../core/errors.js';
import { RECORD_FORMAT, type RunRecord } from './record.js';

/**
 * Where run records live and how many are kept: by default
 * `<inventory-dir>/.stackplay/runs/`, beside the inventory and its secrets
 * file, so each lab keeps its own history; `--history-dir` or
 * STACKPLAY_HISTORY_DIR moves it. Records are gzip'd JSON, the files 0600
 * and a directory we create 0700: diffs can hold configuration.
 */

export const HISTORY_DIR_ENV = 'STACKPLAY_HISTORY_DIR';
export const HISTORY_KEEP_ENV = 'STACKPLAY_HISTORY_KEEP';
/** Records kept per directory; the oldest go first. */
export const DEFAULT_KEEP = 100;

const RECORD_FILE = /^\d{8}T\d{6}\.\d{3}Z-[A-Za-z0-9_.-]+\.json\.gz$/;
const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export function historyDirFor(inventoryPath: string, flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag ?? env[HISTORY_DIR_ENV];
  if (chosen !== undefined && chosen !== '') return resolve(chosen);
  return join(dirname(resolve(inventoryPath)), '.stackplay', 'runs');
}

/** How many records to keep, from STACKPLAY_HISTORY_KEEP (bad input names the variable). */
export function keepFrom(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[HISTORY_KEEP_ENV];
  if (text === undefined || text === '') return DEFAULT_KEEP;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new InputError(HISTORY_KEEP_ENV, 0, `expected a whole number ≥ 1, got ${JSON.stringify(text)}`);
  return Number(text);
}

export class RunStore {
  constructor(
    readonly dir: string,
    readonly keep: number = DEFAULT_KEEP,
  ) {}

  pathOf(id: string): string {
    return join(this.dir, `${id}.json.gz`);
  }

  /** Writes the record atomically (0600, a new temporary file, no symlink followed), then drops the oldest beyond `keep`. */
  async save(record: RunRecord): Promise<string> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = this.pathOf(record.id);
    const tmp = join(this.dir, `.${record.id}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(await gzipAsync(JSON.stringify(record)));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, path);
    } finally {
      await rm(tmp, { force: true });
    }
    await this.#rotate();
    return path;
  }

  async #rotate(): Promise<void> {
    const ids = await this.ids();
    await Promise.all(ids.slice(this.keep).map((id) => rm(this.pathOf(id), { force: true })));
  }

  /** Record ids, newest first. */
  async ids(): Promise<string[]> {
    const names = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    return names
      .filter((n) => RECORD_FILE.test(n))
      .map((n) => n.slice(0, -'.json.gz'.length))
      .sort()
      .reverse();
  }

  async read(id: string): Promise<RunRecord> {
    return parseRecord(await readFile(this.pathOf(id)), this.pathOf(id));
  }

  /** Every readable record, newest first; the names of the unreadable ones. */
  async all(): Promise<{ records: RunRecord[]; unreadable: string[] }> {
    const records: RunRecord[] = [];
    const unreadable: string[] = [];
    for (const id of await this.ids()) {
      try {
        records.push(await this.read(id));
      } catch {
        unreadable.push(id);
      }
    }
    return { records, unreadable };
  }

  /**
   * A record named as people name it: `latest`, a number from the list (1 is
   * the newest; up to three digits, so a year starts an id), an id or the start of one, or a record file's path.
   */
  async find(ref: string): Promise<RunRecord> {
    if (ref.endsWith('.json.gz') && ref.includes('/')) return parseRecord(await readFile(ref), ref);
    const ids = await this.ids();
    if (ids.length === 0) throw new InputError(this.dir, 0, 'no run recorded here yet');
    let id: string | undefined;
    if (ref === 'latest') id = ids[0];
    else if (/^\d{1,3}$/.test(ref)) {
      id = ids[Number(ref) - 1];
      if (id === undefined) throw new InputError(ref, 0, `there are ${ids.length} recorded runs; run ${ref} is not one of them`);
    } else {
      const matches = ids.filter((i) => i.startsWith(ref));
      if (matches.length > 1) throw new InputError(ref, 0, `names ${matches.length} runs (${matches.slice(0, 3).join(', ')}…); give more of the id`);
      id = matches[0];
      if (id === undefined) throw new InputError(ref, 0, `no recorded run with this id in ${this.dir}`);
    }
    return this.read(id!);
  }
}

async function parseRecord(data: Buffer, where: string): Promise<RunRecord> {
  let record: { format?: unknown };
  try {
    record = JSON.parse((await gunzipAsync(data)).toString('utf8')) as { format?: unknown };
  } catch (error) {
    throw new InputError(where, 0, `not a readable run record (${error instanceof Error ? error.message : String(error)})`);
  }
  if (record.format !== RECORD_FORMAT) throw new InputError(where, 0, `not a run record of format ${RECORD_FORMAT} (format ${JSON.stringify(record.format)})`);
  return record as RunRecord;
}
