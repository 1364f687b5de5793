import { randomBytes } from 'node:crypto';

/**
 * Identifies this process's run on hosts (e.g. "apt lists were refreshed by
 * this run"), so once-per-run work stays a pure function of facts.
 */
export const RUN_ID = randomBytes(8).toString('hex');

/** Host-side state of stackplay (markers, pending handlers). */
export const STATE_DIR = '/var/lib/stackplay';
