import { Redactor, type Secret } from '../core/secret.js';
import type { Http } from '../core/task.js';
import { ForwardError, UnreachableError, type HttpRequest, type HttpResponse } from '../transport/transport.js';

/**
 * A small JSON-over-`Http` client for the HTTP APIs task modules talk to
 * (keystone, neutron, …): requests as the host sees them, a token header,
 * bounded retries while the service (re)starts, and errors that name method,
 * path and status but never a token or password.
 */

export type Json = Record<string, unknown>;

// ---- reading JSON bodies ---------------------------------------------------

export const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
export const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);

export interface JsonReader {
  obj(value: unknown, what: string): Json;
  list(value: unknown, what: string): Json[];
  /** The `id` of a record, which every resource has. */
  id(o: Json, what: string): string;
}

/** Shape checks for response bodies whose errors name the service: `keystone: unexpected response, roles is not a list`. */
export function jsonReader(service: string): JsonReader {
  const unexpected = (what: string) => new Error(`${service}: unexpected response, ${what}`);
  const obj = (value: unknown, what: string): Json => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Json;
    throw unexpected(`${what} is not an object`);
  };
  return {
    obj,
    list(value, what) {
      if (!Array.isArray(value)) throw unexpected(`${what} is not a list`);
      return value.map((v, i) => obj(v, `${what}[${i}]`));
    },
    id(o, what) {
      const v = str(o['id']);
      if (v === null) throw unexpected(`${what} has no id`);
      return v;
    },
  };
}

const anyJson = jsonReader('api');

/** A body as an object; empty, not JSON or not an object: `{}`. */
export function parseJson(body: string): Json {
  if (body.trim() === '') return {};
  try {
    return anyJson.obj(JSON.parse(body), 'body');
  } catch {
    return {};
  }
}

/** A response header, whatever its case. */
export function header(res: HttpResponse, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(res.headers)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

// ---- failures and retries --------------------------------------------------

/**
 * A failure of `http()` worth retrying: the service not listening yet
 * (`refused`), or the exchange broke off (`broken`). A lost SSH link
 * (UnreachableError) is not retried here: the executor marks the host
 * unreachable.
 */
export function transientFailure(error: unknown): 'refused' | 'broken' | null {
  if (error instanceof ForwardError) return error.reason === 'prohibited' ? null : error.reason;
  if (error instanceof UnreachableError) return null;
  // Other transports (local, test fakes) throw socket errors as they are;
  // anything else is a bug to surface at once, not 20 s later.
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNREFUSED' || /connection refused/i.test(message)) return 'refused';
  if ((code && /^E[A-Z]+$/.test(code)) || /socket hang up|reset|timed out/i.test(message)) return 'broken';
  return null;
}

/** Waits between attempts: one attempt more than there are delays. */
export interface RetryPolicy {
  readonly delaysMs: readonly number[];
  readonly sleep: (ms: number) => Promise<void>;
}

/** What a client's options may override of its service's retry policy (tests pass a `sleep` that does not wait). */
export interface RetryOptions {
  readonly retryDelaysMs?: readonly number[];
  readonly sleep?: (ms: number) => Promise<void>;
}

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function retryPolicy(defaultDelaysMs: readonly number[], options: RetryOptions = {}): RetryPolicy {
  return { delaysMs: options.retryDelaysMs ?? defaultDelaysMs, sleep: options.sleep ?? sleepMs };
}

// ---- errors ----------------------------------------------------------------

/** A request the service answered with an error status. The message never holds tokens, passwords or request bodies. */
export class ApiError extends Error {
  override readonly name: string = 'ApiError';
  constructor(
    /** Who reports it: the first word of the message. */
    readonly service: string,
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** The service's own explanation, secrets masked. */
    readonly detail: string,
    /** The endpoint, as `host:port` or with what it is (`keystone host:port`). */
    where: string,
  ) {
    super(`${service} ${where}: ${method} ${path} → ${status}${detail ? `: ${detail}` : ''}`);
  }
}

/** `type`/`title` and `message` of a service's error object (e.g. {"error": {"title", "message"}}, {"NeutronError": {"type", "message"}}). */
export function errorText(error: Json): string {
  return [str(error['type']) ?? str(error['title']), str(error['message'])].filter((s) => s).join(': ');
}

// ---- the client ------------------------------------------------------------

/** Supplies the token header of authenticated calls. */
export interface AuthProvider {
  /** Header name, e.g. `x-auth-token`. */
  readonly header: string;
  /** `cached`: from an earlier login, so a 401 may just mean it died early. */
  token(): Promise<{ value: string; cached: boolean }>;
  /** Drops the cached token the service refused; the next `token()` logs in. */
  forget(): void;
}

export interface JsonApiOptions {
  readonly host: string;
  readonly port: number;
  readonly http: Http;
  readonly retry: RetryPolicy;
  /** First word of error messages, e.g. `keystone`. */
  readonly service: string;
  /** The endpoint in error-status messages; default `host:port`. */
  readonly where?: string;
  /** Who did not answer, in the message of a request that got no answer; default `<service> at host:port`. */
  readonly unanswered?: string;
  /** Sends the token header on calls that are `authenticated` (the default). */
  readonly auth?: AuthProvider;
  /** Values masked in every error message (credentials); the token a call sent is masked too. */
  readonly secrets?: readonly (Secret | string)[];
  /** The error object of an error body, handed to `errorText`; default keystone's `error`. */
  readonly errorObject?: (body: Json) => unknown;
  /** The class of the error of an error status (KeystoneError, …); default ApiError. */
  readonly errorClass?: typeof ApiError;
}

export interface CallOptions {
  readonly body?: unknown;
  /** Default true: send the auth header. */
  readonly authenticated?: boolean;
  /** Non-2xx statuses that are answers, not failures (404 of a lookup, 401 of a password check). */
  readonly okStatuses?: readonly number[];
  /** Values to mask in the error message besides the credentials and the token. */
  readonly secrets?: readonly Secret[];
}

export interface ApiReply {
  readonly response: HttpResponse;
  /** The body as an object; `{}` when empty or not a JSON object. */
  readonly json: Json;
}

export class JsonApi {
  readonly host: string;
  readonly port: number;
  readonly http: Http;
  readonly retry: RetryPolicy;
  /** Shape checks naming this API's service. */
  readonly json: JsonReader;
  readonly #options: JsonApiOptions;

  constructor(options: JsonApiOptions) {
    this.host = options.host;
    this.port = options.port;
    this.http = options.http;
    this.retry = options.retry;
    this.json = jsonReader(options.service);
    this.#options = options;
  }

  /**
   * One call: JSON body out, JSON body back. A 2xx or an `okStatuses`
   * status is the answer; any other status throws the service's error. A
   * cached token refused with 401 is replaced once.
   */
  async call(method: HttpRequest['method'], path: string, options: CallOptions = {}): Promise<ApiReply> {
    const auth = (options.authenticated ?? true) ? this.#options.auth : undefined;
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      let cached = false;
      let token: string | undefined;
      if (auth) {
        ({ value: token, cached } = await auth.token());
        headers[auth.header] = token;
      }
      const response = await this.send({ method, host: this.host, port: this.port, path, headers, ...(body !== undefined ? { body } : {}) });
      // A cached token can die early (keystone restarted with new fernet keys,
      // token revoked): log in again once rather than fail the task.
      if (auth && response.status === 401 && cached && attempt === 0) {
        auth.forget();
        continue;
      }
      if ((response.status >= 200 && response.status < 300) || options.okStatuses?.includes(response.status)) {
        return { response, json: parseJson(response.body) };
      }
      throw this.#error(method, path, response, [...(options.secrets ?? []), ...(token ? [token] : [])]);
    }
  }

  /** Sends one request, retrying while the service is starting (refused, 503) within the policy's delays. */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const { delaysMs, sleep } = this.retry;
    for (let attempt = 0; ; attempt++) {
      const delay = delaysMs[attempt];
      let response: HttpResponse;
      try {
        response = await this.http(request);
      } catch (error) {
        const kind = transientFailure(error);
        if (kind === null) throw error;
        // A broken exchange may have been applied already: only reads are repeated.
        const retryable = kind === 'refused' || (kind === 'broken' && (request.method === 'GET' || request.method === 'HEAD'));
        if (!retryable || delay === undefined) {
          // The service being down or dropping the request is this task's
          // failure, not the host being unreachable (which would stop every
          // other task on it).
          const why = error instanceof Error ? error.message : String(error);
          const tries = attempt === 0 ? '' : ` after ${attempt + 1} attempts`;
          const who = this.#options.unanswered ?? `${this.#options.service} at ${this.host}:${this.port}`;
          throw new Error(`${who} did not answer ${request.method} ${request.path}${tries}: ${why}`, { cause: error });
        }
        await sleep(delay);
        continue;
      }
      if (response.status === 503 && delay !== undefined) {
        await sleep(delay);
        continue;
      }
      return response;
    }
  }

  #error(method: string, path: string, response: HttpResponse, extra: readonly (Secret | string)[]): ApiError {
    const o = this.#options;
    const redactor = new Redactor();
    for (const s of [...(o.secrets ?? []), ...extra]) redactor.add(s);
    let detail: string;
    try {
      const body = this.json.obj(JSON.parse(response.body), 'body');
      detail = errorText(this.json.obj(o.errorObject ? o.errorObject(body) : body['error'], 'error'));
    } catch {
      detail = response.body.trim().slice(0, 300);
    }
    const where = o.where ?? `${this.host}:${this.port}`;
    return new (o.errorClass ?? ApiError)(o.service, method, path, response.status, redactor.redact(detail), where);
  }
}
