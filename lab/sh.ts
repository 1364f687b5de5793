/**
 * zx as the lab uses it: bash, interpolations quoted by zx, non-zero exit
 * throws, and quiet (a failing command's stderr is in the thrown error
 * rather than on the terminal).
 */
import { $ as zx$ } from 'zx';

export const $ = zx$({ quiet: true });
