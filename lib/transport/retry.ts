import { UnreachableError } from './transport.js';

/**
 * Connecting again is safe; running a command again is not. So only the
 * connect phase is retried, and only for errors that may pass (refused,
 * reset, timed out) — never an authentication or host-key failure.
 */
export interface RetryPolicy {
  /** Waits between attempts, in ms; attempts = delays + 1. */
  readonly delaysMs: readonly number[];
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each wait, e.g. to tell the user. */
  readonly onRetry?: (error: UnreachableError, attempt: number, delayMs: number) => void;
}

export const DEFAULT_CONNECT_RETRY: RetryPolicy = { delaysMs: [1000, 3000] };

export async function connectWithRetry<T>(connect: () => Promise<T>, policy: RetryPolicy = DEFAULT_CONNECT_RETRY): Promise<T> {
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect();
    } catch (error) {
      const delay = policy.delaysMs[attempt];
      if (!(error instanceof UnreachableError) || !error.transient || delay === undefined) throw error;
      policy.onRetry?.(error, attempt + 1, delay);
      await sleep(delay);
    }
  }
}
