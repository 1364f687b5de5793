import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import type { ExecOptions, ExecResult, HttpRequest, HttpResponse, Transport } from './transport.js';

/**
 * Ansible's `local` connection: the same scripts, run by /bin/sh on this
 * machine with the script on stdin. Used for localhost inventories and for
 * tests that exercise real files without sshd.
 */
export class LocalTransport implements Transport {
  constructor(readonly host = 'localhost') {}

  exec(script: string, options: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('/bin/sh', ['-s'], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = options.timeoutMs ? setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), options.timeoutMs) : undefined;
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const stderr = Buffer.concat(err).toString('utf8');
        if (timedOut)
          return resolve({ exitCode: 124, stdout: Buffer.concat(out).toString('utf8'), stderr: `${stderr}timed out after ${options.timeoutMs} ms` });
        resolve({
          exitCode: code ?? (signal ? 128 + ({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2 } as Record<string, number>)[signal]! : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr,
        });
      });
      child.stdin.on('error', () => {}); // the script may exit before reading all of its stdin
      child.stdin.end(script);
    });
  }

  http(req: HttpRequest): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const r = httpRequest({ host: req.host, port: req.port, method: req.method, path: req.path, headers: req.headers ?? {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      r.on('error', reject);
      r.end(req.body);
    });
  }

  async close(): Promise<void> {}
}
