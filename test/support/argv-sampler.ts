import { readdir, readFile } from 'node:fs/promises';

/**
 * Reads every process's argv on this machine (/proc/<pid>/cmdline) over and
 * over, every 5 ms, until stopped: where a secret must never show. `reads`
 * counts every read, `argv` keeps the non-empty ones (kernel threads and
 * processes gone mid-read have none).
 */
export function sampleArgv(): { readonly argv: readonly string[]; readonly reads: number; stop(): Promise<void> } {
  const argv: string[] = [];
  let reads = 0;
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      for (const pid of await readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(pid)) continue;
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        reads++;
        if (cmdline) argv.push(cmdline);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    argv,
    get reads() {
      return reads;
    },
    async stop() {
      sampling = false;
      await loop;
    },
  };
}
