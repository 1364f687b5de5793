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
