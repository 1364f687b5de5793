import { InputError } from '../core/errors.js';
import { EXIT_BAD_INPUT, type CliIo } from './cli.js';

/**
 * Takes an entry point's own option out of a command line before the rest
 * goes to the shared CLI (day-2 playbooks: `--secrets`, add-compute's
 * `--limit`): `--name VALUE`, `--name=VALUE` or a short `-n VALUE`. The last
 * one given wins; undefined when absent.
 */
export function takeOption(argv: readonly string[], names: readonly string[]): { value: string | undefined; rest: string[] } {
  let value: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const inline = names.find((n) => n.startsWith('--') && a.startsWith(`${n}=`));
    if (names.includes(a)) value = argv[++i] ?? '';
    else if (inline !== undefined) value = a.slice(inline.length + 1);
    else rest.push(a);
  }
  return { value, rest };
}

/** Takes a flag without a value (`--migrate`) out of a command line. */
export function takeFlag(argv: readonly string[], name: string): { set: boolean; rest: string[] } {
  const rest = argv.filter((a) => a !== name);
  return { set: rest.length !== argv.length, rest };
}

/**
 * An entry point's own checks of its input, before any host is touched: the
 * value `check` returns, or the exit code for bad input (5) once the problem
 * is printed (an InputError here; commander prints its own).
 */
export async function checkInput<T>(io: CliIo, check: () => T | Promise<T>): Promise<{ readonly value: T } | { readonly exit: number }> {
  try {
    return { value: await check() };
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('commander.')) return { exit: EXIT_BAD_INPUT };
    if (!(error instanceof InputError)) throw error;
    io.stderr.write(`error: ${error.message}\n`);
    return { exit: EXIT_BAD_INPUT };
  }
}
