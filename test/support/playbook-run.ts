import { execFile, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** How a fixture playbook's run ended: its exit code (128 when a signal ended it), stdout, stderr, and both (stdout first). */
export interface PlaybookRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly out: string;
}

/**
 * A fixture playbook (test/fixtures/playbooks/<name>.ts, the CLI with its
 * plays) in a child process, node directly so signals reach it: the child,
 * its stdout so far, and how it ended.
 */
export function startPlaybook(
  name: string,
  args: readonly string[],
  env: Record<string, string> = {},
): { child: ChildProcess; output: () => string; done: Promise<PlaybookRun> } {
  let child!: ChildProcess;
  let output = '';
  const done = new Promise<PlaybookRun>((resolve) => {
    child = execFile(
      process.execPath,
      ['--import', 'tsx', `test/fixtures/playbooks/${name}.ts`, ...args],
      { cwd: REPO, env: { ...process.env, NO_COLOR: '1', ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? (child.signalCode ? 128 : 1)) : 0, stdout, stderr, out: stdout + stderr }),
    );
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  });
  return { child, output: () => output, done };
}

/** A fixture playbook's run to its end. */
export function runPlaybook(name: string, args: readonly string[], env: Record<string, string> = {}): Promise<PlaybookRun> {
  return startPlaybook(name, args, env).done;
}
