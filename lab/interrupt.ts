/**
 * Ctrl-C / SIGTERM during a lab command: run the registered cleanups (kill
 * debootstrap and drop its half-built tree, stop a proxy started only for a
 * base build), then exit. Everything else `up` made is already in the state
 * file, so `down` removes it.
 */
type Cleanup = () => unknown;

const cleanups = new Set<Cleanup>();

/** Register a cleanup for an interrupted run; call the returned function when the work is done. */
export function onInterrupt(fn: Cleanup): () => void {
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
  };
}

export function installInterruptHandlers(): void {
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      const code = signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 129;
      if (stopping) process.exit(code);
      stopping = true;
      process.stderr.write(`\nlab: ${signal}: stopping; what was made so far is recorded, 'down' removes it\n`);
      void Promise.allSettled([...cleanups].map(async (fn) => fn())).finally(() => process.exit(code));
    });
  }
}
