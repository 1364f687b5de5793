import { createHash } from 'node:crypto';
import type { Secret } from '../core/secret.js';
import type { Http } from '../core/task.js';

/**
 * Auth tokens of API clients, cached per runtime and credentials. What a
 * token looks like and how long it lives is the service's business: its
 * client's login returns a CachedToken.
 */

export interface CachedToken {
  readonly value: string;
  readonly expiresAt: number;
}

/**
 * Tokens per runtime (its `http`: tasks on one host run in order over one
 * runtime) and per credentials, so a role with 30 API tasks logs in once.
 * Keyed by the runtime too because a token obtained from a simulated
 * service of `--plan` means nothing to the real one.
 */
export class TokenCache {
  readonly #byHttp = new WeakMap<Http, Map<string, Promise<CachedToken>>>();

  /**
   * @param loginAgainAfterSharedFailure what a caller does that found a login
   * of someone else under way and that login failed: log in itself (true) or
   * fail with the same error (false).
   */
  constructor(readonly loginAgainAfterSharedFailure: boolean) {}

  /** A valid token, logging in when there is none; `cached` says whether it came from an earlier login. */
  async get(http: Http, key: string, login: () => Promise<CachedToken>): Promise<{ value: string; cached: boolean }> {
    let perHttp = this.#byHttp.get(http);
    if (!perHttp) this.#byHttp.set(http, (perHttp = new Map()));
    const hit = perHttp.get(key);
    if (hit) {
      const token = this.loginAgainAfterSharedFailure ? await hit.catch(() => null) : await hit;
      if (token && token.expiresAt > Date.now()) return { value: token.value, cached: true };
      if (perHttp.get(key) === hit) perHttp.delete(key);
    }
    const pending = login();
    perHttp.set(key, pending);
    try {
      return { value: (await pending).value, cached: false };
    } catch (error) {
      if (perHttp.get(key) === pending) perHttp.delete(key);
      throw error;
    }
  }

  forget(http: Http, key: string): void {
    this.#byHttp.get(http)?.delete(key);
  }
}

/** A cache key for credentials; hashed so that the key (which could show up in a debugger or heap dump) does not spell the password. */
export function credentialKey(parts: readonly (string | number)[], password: Secret): string {
  return [...parts, createHash('sha256').update(password.reveal()).digest('hex')].join('\0');
}
