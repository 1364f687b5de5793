import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponse } from '../transport/transport.js';
import type { SimNetwork } from './sim.js';

/**
 * The kit fake HTTP services of `--plan` are built from (a SimService on a
 * SimNetwork port): errors answered with the service's own error body, JSON
 * responses, requests read leniently, deterministic ids, and the service's
 * state kept on the network, where every simulated host reaches it.
 */

export type Json = Record<string, unknown>;

// ---- errors and responses --------------------------------------------------

/** An error status a fake service answers with; `kind` is what the service calls the error (a title, a type). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

/** The document a service answers an HttpError with, e.g. `{"error": {"code", "title", "message"}}`. */
export type ErrorBody = (error: HttpError) => unknown;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

export const empty = (status: number): HttpResponse => ({ status, headers: {}, body: '' });

/** Runs a request's handler; an HttpError it throws is answered with the service's error body, anything else is a bug and thrown on. */
export function answer(errorBody: ErrorBody, handle: () => HttpResponse): HttpResponse {
  try {
    return handle();
  } catch (error) {
    if (error instanceof HttpError) return json(error.status, errorBody(error));
    throw error;
  }
}

// ---- reading requests ------------------------------------------------------

/** A request header, whatever its case. */
export function header(request: HttpRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(request.headers ?? {})) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

/** An object, or `{}` for anything else: a fake reads bodies leniently and checks what it needs. */
export const obj = (v: unknown): Json => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
export const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
/** A number, or a string of digits (as a query string or a lax client sends one). */
export const num = (v: unknown): number | null => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : null);

/** What a fake routes a request on. */
export interface FakeRequest {
  readonly url: URL;
  /** The path's segments, decoded: `/v3/users/a%20b` → `['v3', 'users', 'a b']`. */
  readonly parts: readonly string[];
  /** The JSON body; `{}` when there is none. */
  readonly body: Json;
}

/** Reads a request's URL and JSON body; a body that is not JSON throws `malformed()`. */
export function readRequest(request: HttpRequest, malformed: () => HttpError): FakeRequest {
  const url = new URL(request.path, 'http://sim');
  let body: Json = {};
  if (request.body) {
    try {
      body = obj(JSON.parse(request.body));
    } catch {
      throw malformed();
    }
  }
  const parts = url.pathname
    .split('/')
    .filter((p) => p)
    .map(decodeURIComponent);
  return { url, parts, body };
}

// ---- ids and state ---------------------------------------------------------

export const md5Hex = (text: string): string => createHash('md5').update(text).digest('hex');

/** The next id of a service: the md5 of `<seed>:<n>` for the counter kept in its state, so two `--plan` runs print the same ids. */
export function sequentialId(state: { counter: number }, seed: string): string {
  return md5Hex(`${seed}:${++state.counter}`);
}

/** 32 hex digits written as a UUID (8-4-4-4-12). */
export const asUuid = (hex: string): string => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;

/** A fake service's state on the network, made by `init` on first use; `key` names the service. */
export function serviceState<T>(network: SimNetwork, key: string, init: () => T): T {
  let state = network.state.get(key) as T | undefined;
  if (state === undefined) network.state.set(key, (state = init()));
  return state;
}
