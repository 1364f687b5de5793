import { randomBytes } from 'node:crypto';
import { constants, readFileSync, statSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../core/errors.js';
import { Redactor, Secret } from '../core/secret.js';
import { passwordProblem, privateModeProblem } from './secret-input.js';
import { closest } from '../core/typos.js';

/**
 * Per-inventory secrets: generated once, kept in a 0600 file beside the
 * inventory (`hosts/juno.secrets.ini` for `hosts/juno.ini`), or all equal to
 * `default_password` when the inventory sets it (packstack's
 * CONFIG_DEFAULT_PASSWORD). Every value handed out is registered with the
 * redactor, so it is masked wherever it shows up.
 */
export class SecretStore {
  readonly #values = new Map<string, string>();
  #dirty = false;
  /** The file's text as read (null: there was none): saving refuses to overwrite what another run wrote meanwhile. */
  readonly #read: string | null;

  constructor(
    readonly path: string,
    readonly redactor: Redactor,
    readonly defaultPassword?: string,
  ) {
    let text: string | null = null;
    try {
      const info = statSync(path);
      if (!info.isFile()) throw new InputError(path, 0, 'the secrets file is not a regular file');
      // Like ssh with a private key: a secrets file others can read is refused, not used.
      const exposed = privateModeProblem(info.mode);
      if (exposed) throw new InputError(path, 0, `the secrets file ${exposed}`);
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if (error instanceof InputError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new InputError(path, 0, `cannot read the secrets file (${code ?? String(error)})`);
    }
    this.#read = text;
    (text ?? '').split('\n').forEach((line, i) => {
      if (!line.trim() || /^\s*[#;]/.test(line)) return;
      const m = /^\s*([A-Za-z0-9_.-]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (!m) throw new InputError(path, i + 1, 'expected name = value');
      const [, name = '', value = ''] = m;
      if (value === '') throw new InputError(path, i + 1, `secret ${name} is empty`, name);
      if (this.#values.has(name)) throw new InputError(path, i + 1, `secret ${name} is set twice`, name);
      const problem = /[\x00-\x1f\x7f]/.test(value) ? 'must not contain control characters' : passwordProblem(value);
      if (problem) throw new InputError(path, i + 1, `secret ${name} ${problem}`, name);
      this.#values.set(name, value);
      redactor.add(value);
    });
    if (defaultPassword !== undefined && defaultPassword.trim() === '') throw new InputError(path, 0, 'default_password is set but empty');
    if (defaultPassword) redactor.add(defaultPassword);
  }

  static besideInventory(inventoryPath: string, redactor: Redactor, defaultPassword?: string): SecretStore {
    const name = basename(inventoryPath).replace(/\.(ini|cfg|txt)$/, '');
    return new SecretStore(join(dirname(inventoryPath), `${name}.secrets.ini`), redactor, defaultPassword);
  }

  get(name: string): Secret {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`invalid secret name ${JSON.stringify(name)}`);
    if (this.defaultPassword) return new Secret(this.defaultPassword);
    let value = this.#values.get(name);
    if (value === undefined) {
      // Hex keeps generated values safe inside URLs, INI files and shell words.
      value = randomBytes(16).toString('hex');
      this.#values.set(name, value);
      this.redactor.add(value);
      this.#dirty = true;
    }
    return new Secret(value);
  }

  /** The names of the secrets this store holds. */
  names(): string[] {
    return [...this.#values.keys()].sort();
  }

  /**
   * New values for these secrets (or every one), for password rotation. The
   * old values stay known to the redactor, so a file's previous content that
   * still holds one is masked. `persist: false` (check mode, --plan) keeps
   * the new values in this run only: saving writes the old ones.
   */
  rotate(names: readonly string[] | 'all', options: { persist: boolean }): string[] {
    if (this.defaultPassword)
      throw new InputError(this.path, 0, 'default_password gives every secret one value: rotation needs the secrets file (remove default_password)');
    const chosen = names === 'all' ? this.names() : names;
    for (const name of chosen)
      if (!this.#values.has(name)) {
        const hint = closest(name, this.#values.keys());
        throw new InputError(this.path, 0, `no secret ${name} in the secrets file${hint ? ` (did you mean ${hint}?)` : ''}`, name);
      }
    for (const name of chosen) this.#replace(name, randomBytes(16).toString('hex'), options.persist);
    return [...chosen];
  }

  /** Takes every value of another secrets file (a backup's): restore. Values it lacks are kept. */
  restoreFrom(other: SecretStore, options: { persist: boolean }): string[] {
    const changed = other.names().filter((name) => other.#values.get(name) !== this.#values.get(name));
    for (const name of changed) this.#replace(name, other.#values.get(name)!, options.persist);
    return changed;
  }

  #replace(name: string, value: string, persist: boolean): void {
    if (!persist && !this.#kept.has(name)) this.#kept.set(name, this.#values.get(name));
    this.#values.set(name, value);
    this.redactor.add(value);
    if (persist) this.#dirty = true;
  }

  /** Values replaced for this run only (check mode): what saving writes instead. */
  readonly #kept = new Map<string, string | undefined>();

  /**
   * Writes new secrets atomically, mode 0600; existing values are kept. The
   * temporary file is new (O_EXCL) and no symlink is followed (O_NOFOLLOW);
   * a first save links it into place, so of two first runs at once the second
   * stops rather than replace secrets the first already handed out.
   */
  async save(): Promise<void> {
    if (!this.#dirty) return;
    const saved = new Map(this.#values);
    for (const [name, value] of this.#kept)
      if (value === undefined) saved.delete(name);
      else saved.set(name, value);
    const lines = [...saved].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} = ${v}`);
    const text = `# Generated by stackplay: secrets for ${basename(this.path)}. Keep private; never commit.\n${lines.join('\n')}\n`;
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const changedMeanwhile = () =>
      new InputError(this.path, 0, 'another run wrote the secrets file meanwhile; run again (its secrets are the ones now in use)');
    try {
      if (this.#read === null) {
        await link(tmp, this.path).catch((error: NodeJS.ErrnoException) => {
          throw error.code === 'EEXIST' ? changedMeanwhile() : error;
        });
      } else {
        if ((await readFile(this.path, 'utf8').catch(() => null)) !== this.#read) throw changedMeanwhile();
        await rename(tmp, this.path);
      }
    } finally {
      await rm(tmp, { force: true });
    }
    this.#dirty = false;
  }
}
