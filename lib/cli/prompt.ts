/**
 * Asking for a secret on the terminal, as ssh asks for a passphrase: the
 * question on stderr, the answer read from stdin with echo off. Only when
 * stdin is a terminal; otherwise there is nobody to ask and callers say so
 * before any connection.
 */

export type Ask = (question: string) => Promise<string>;

/** An asker for this process's terminal, or undefined when stdin is not one. */
export function terminalAsker(stdin: NodeJS.ReadStream = process.stdin, out: NodeJS.WritableStream = process.stderr): Ask | undefined {
  if (!stdin.isTTY) return undefined;
  return (question) =>
    new Promise<string>((resolve, reject) => {
      out.write(question);
      let answer = '';
      stdin.setRawMode(true);
      stdin.resume();
      stdin.setEncoding('utf8');
      const done = (error?: Error): void => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        out.write('\n');
        if (error) reject(error);
        else resolve(answer);
      };
      const onData = (chunk: string): void => {
        for (const c of chunk) {
          if (c === '\r' || c === '\n') return done();
          if (c === '\u0003') return done(new Error('interrupted'));
          if (c === '\u007f' || c === '\b') answer = answer.slice(0, -1);
          else answer += c;
        }
      };
      stdin.on('data', onData);
    });
}
