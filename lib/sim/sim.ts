import { posix } from 'node:path';
import type { HttpRequest, HttpResponse } from '../transport/transport.js';
import { TrackedFiles, TrackedSet, valueKey, type StateTracker } from './tracked-state.js';

/**
 * A simulated host for `--plan`: an in-memory filesystem, named state sets
 * (packages, running services, databases, …) that task modules read and
 * write through their facts' and steps' `simulate`, and the ordered log of
 * every command and API call. Nothing here touches the network.
 */

export type SimEntry =
  | { readonly type: 'file'; content: string; mode: string; owner: string; group: string }
  | { readonly type: 'dir'; mode: string; owner: string; group: string }
  | { readonly type: 'link'; target: string };

/** A fake HTTP service reachable from every simulated host (keystone, …). */
export type SimService = (request: HttpRequest, network: SimNetwork) => HttpResponse;

export class SimNetwork {
  readonly #services = new Map<number, SimService>();
  /** Shared state of fake services, e.g. the keystone catalog. */
  readonly state = new Map<string, unknown>();

  register(port: number, service: SimService): void {
    this.#services.set(port, service);
  }
  has(port: number): boolean {
    return this.#services.has(port);
  }
  request(request: HttpRequest): HttpResponse {
    const service = this.#services.get(request.port);
    if (!service) return { status: 502, headers: {}, body: `no simulated service on port ${request.port}` };
    return service(request, this);
  }
}

export class SimHost {
  readonly files: Map<string, SimEntry>;
  readonly log: string[] = [];
  /** Paths created or changed during the run, for `--plan` output. */
  readonly touched = new Set<string>();
  readonly #sets = new Map<string, Set<string>>();
  readonly #values = new Map<string, string>();

  constructor(
    readonly name: string,
    readonly network: SimNetwork,
    /** Values facts report for this host (cpu flags, os release, …); see facts.ts. */
    readonly hardware: Readonly<Record<string, string>> = {},
    /** Check mode's overlay of a real host: which state was read and which predicted (tracked-state.ts). */
    readonly tracker?: StateTracker,
  ) {
    this.files = tracker ? TrackedFiles.create(tracker) : new Map();
    tracker?.implicit(() => this.files.set('/', { type: 'dir', mode: '0755', owner: 'root', group: 'root' }));
  }

  /** A named set of strings: 'packages', 'services:running', 'mysql:databases', … */
  set(name: string): Set<string> {
    let s = this.#sets.get(name);
    if (!s) this.#sets.set(name, (s = this.tracker ? TrackedSet.create(name, this.tracker) : new Set()));
    return s;
  }
  value(name: string): string | undefined {
    this.tracker?.read(valueKey(name));
    return this.#values.get(name);
  }
  setValue(name: string, value: string): void {
    if (this.tracker && !this.tracker.write(valueKey(name))) return;
    this.#values.set(name, value);
  }

  writeFile(path: string, content: string, attrs: { mode?: string | undefined; owner?: string | undefined; group?: string | undefined } = {}): void {
    this.mkdirp(posix.dirname(path));
    const old = this.files.get(path);
    const prev = old?.type === 'file' ? old : undefined;
    this.files.set(path, {
      type: 'file',
      content,
      mode: attrs.mode ?? prev?.mode ?? '0644',
      owner: attrs.owner ?? prev?.owner ?? 'root',
      group: attrs.group ?? prev?.group ?? 'root',
    });
    this.touched.add(path);
  }

  /** A file that a command made as a side effect: it exists for later facts but is not part of `--plan` output. */
  materialize(path: string): void {
    if (this.files.has(path)) return;
    this.mkdirp(posix.dirname(path));
    this.files.set(path, { type: 'file', content: '', mode: '0644', owner: 'root', group: 'root' });
  }

  mkdirp(path: string): void {
    if (path === '/' || this.files.get(path)?.type === 'dir') return;
    this.mkdirp(posix.dirname(path));
    // A parent made for a file is not a prediction about the directory: the real one's mode and owner stand.
    const make = () => this.files.set(path, { type: 'dir', mode: '0755', owner: 'root', group: 'root' });
    if (this.tracker) this.tracker.implicit(make);
    else make();
  }

  remove(path: string): void {
    this.files.delete(path);
    this.touched.add(path);
  }

  link(path: string, target: string): void {
    this.mkdirp(posix.dirname(path));
    this.files.set(path, { type: 'link', target });
    this.touched.add(path);
  }
}
