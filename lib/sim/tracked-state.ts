/**
 * Which parts of a simulated host's state were read, and which were written
 * by predicted steps: what check mode needs to lay its predictions over the
 * real host (lib/core/predict.ts). A fact whose simulated answer reads
 * nothing predicted is answered by the real host; one that reads a
 * prediction is answered by the simulation, after the real answer was
 * absorbed into it around the predicted parts.
 *
 * Keys: `file\0<path>`, `value\0<name>`, `set\0<name>\0<member>`; reading a
 * whole set (iterating, size) reads `set\0<name>\0*`, and clearing one
 * predicts every member.
 */
export class StateTracker {
  readonly #predicted = new Set<string>();
  #reads: Set<string> | undefined;
  #absorbing = false;
  #implicit = false;

  /** Whether any step was predicted on this host. */
  get anyPredicted(): boolean {
    return this.#predicted.size > 0;
  }

  read(key: string): void {
    this.#reads?.add(key);
  }

  /** Whether a write to `key` goes through: an absorbed real value never overwrites a prediction. */
  write(key: string): boolean {
    if (this.#absorbing) return !this.isPredicted(key);
    if (!this.#implicit) this.#predicted.add(key);
    return true;
  }

  isPredicted(key: string): boolean {
    if (this.#predicted.has(key)) return true;
    if (key.endsWith('\0*')) {
      const prefix = key.slice(0, -1);
      for (const p of this.#predicted) if (p.startsWith(prefix)) return true;
      return false;
    }
    const cut = key.lastIndexOf('\0');
    return key.startsWith('set\0') && this.#predicted.has(`${key.slice(0, cut)}\0*`);
  }

  /** The keys `fn` reads. */
  readsOf(fn: () => unknown): ReadonlySet<string> {
    const outer = this.#reads;
    const reads = (this.#reads = new Set());
    try {
      fn();
    } finally {
      this.#reads = outer;
    }
    return reads;
  }

  /** Runs `fn` writing real values: predicted keys keep their prediction, nothing written counts as predicted. */
  absorbing(fn: () => void): void {
    this.#absorbing = true;
    try {
      fn();
    } finally {
      this.#absorbing = false;
    }
  }

  /** Runs `fn` whose writes are side effects nobody predicted (the parent directories of a written file). */
  implicit(fn: () => void): void {
    const outer = this.#implicit;
    this.#implicit = true;
    try {
      fn();
    } finally {
      this.#implicit = outer;
    }
  }
}

export const fileKey = (path: string): string => `file\0${path}`;
export const valueKey = (name: string): string => `value\0${name}`;
const memberKey = (set: string, member: string): string => `set\0${set}\0${member}`;

/** A Map of paths whose reads and writes the tracker sees. */
export class TrackedFiles<V> extends Map<string, V> {
  #tracker: StateTracker | undefined;

  static create<V>(tracker: StateTracker): TrackedFiles<V> {
    const map = new TrackedFiles<V>();
    map.#tracker = tracker;
    return map;
  }

  override get(path: string): V | undefined {
    this.#tracker?.read(fileKey(path));
    return super.get(path);
  }
  override has(path: string): boolean {
    this.#tracker?.read(fileKey(path));
    return super.has(path);
  }
  override set(path: string, value: V): this {
    if (!this.#tracker || this.#tracker.write(fileKey(path))) super.set(path, value);
    return this;
  }
  override delete(path: string): boolean {
    if (this.#tracker && !this.#tracker.write(fileKey(path))) return false;
    return super.delete(path);
  }
}

/** A named Set of strings whose reads and writes the tracker sees, member by member. */
export class TrackedSet extends Set<string> {
  #tracker: StateTracker | undefined;
  #name = '';

  static create(name: string, tracker: StateTracker): TrackedSet {
    const set = new TrackedSet();
    set.#tracker = tracker;
    set.#name = name;
    return set;
  }

  #whole(): void {
    this.#tracker?.read(`set\0${this.#name}\0*`);
  }

  override has(member: string): boolean {
    this.#tracker?.read(memberKey(this.#name, member));
    return super.has(member);
  }
  override add(member: string): this {
    if (!this.#tracker || this.#tracker.write(memberKey(this.#name, member))) super.add(member);
    return this;
  }
  override delete(member: string): boolean {
    if (this.#tracker && !this.#tracker.write(memberKey(this.#name, member))) return false;
    return super.delete(member);
  }
  override clear(): void {
    if (this.#tracker && !this.#tracker.write(`set\0${this.#name}\0*`)) return;
    super.clear();
  }
  override get size(): number {
    this.#whole();
    return super.size;
  }
  override values(): SetIterator<string> {
    this.#whole();
    return super.values();
  }
  override keys(): SetIterator<string> {
    this.#whole();
    return super.keys();
  }
  override entries(): SetIterator<[string, string]> {
    this.#whole();
    return super.entries();
  }
  override forEach(fn: (value: string, value2: string, set: Set<string>) => void, thisArg?: unknown): void {
    this.#whole();
    super.forEach(fn, thisArg);
  }
  override [Symbol.iterator](): SetIterator<string> {
    this.#whole();
    return super.values();
  }
}
