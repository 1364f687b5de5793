/**
 * Where the lab keeps things on the machine. Everything the lab creates at
 * runtime is recorded in STATE_FILE so `down` removes exactly that.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The stackplay checkout this file belongs to (relative key paths in the inventory resolve against it). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Runtime state, per-host disks (overlay upper/work), host keys, logs. */
export const STATE_DIR = process.env['STACKPLAY_LAB_STATE_DIR'] ?? '/var/lib/stackplay-lab';
/** Cached debootstrapped base images, shared by every lab build on this machine. */
export const CACHE_DIR = process.env['STACKPLAY_LAB_CACHE_DIR'] ?? '/var/cache/stackplay-lab';

export const STATE_FILE = path.join(STATE_DIR, 'state.json');
export const LOG_DIR = path.join(STATE_DIR, 'log');
export const HOSTS_DIR = path.join(STATE_DIR, 'hosts');
/** Host keys survive `down`, so the lab's known_hosts stays valid across rebuilds. */
export const HOSTKEY_DIR = path.join(STATE_DIR, 'hostkeys');

export const SUITE = 'bookworm';
/** A base is `<BASE_DIR>/rootfs` (the overlay lower dir) plus `<BASE_DIR>/base.json`, written last. */
export const BASE_DIR = path.join(CACHE_DIR, `base-${SUITE}`);
export const BASE_ROOTFS = path.join(BASE_DIR, 'rootfs');
/** Written last into a finished base; a base without it is never used. */
export const BASE_MARKER = 'base.json';

export const PROXY_PORT = 3142;
/** apt-cacher-ng's package cache (its own default); another (empty) one gives a cold-cache build. */
export const APT_CACHE_DIR = process.env['STACKPLAY_LAB_APT_CACHE_DIR'] ?? '/var/cache/apt-cacher-ng';

export function hostDir(host: string): string {
  return path.join(HOSTS_DIR, host);
}
