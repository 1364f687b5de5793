import * as http from 'node:http';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { type HttpRequest, type HttpResponse } from './transport.js';

/** HTTP/1.1 exchanges over an SSH direct-tcpip channel. */

/** Path without its query string, for messages: queries may carry values callers would not want logged. */
export function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : `${path.slice(0, q)}?…`;
}

/** One HTTP/1.1 exchange over an already-open stream (an SSH direct-tcpip channel). */
export function httpOverStream(stream: Duplex, request: HttpRequest, timeoutMs: number): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const headers: Record<string, string> = { connection: 'close', ...request.headers };
    if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
    // No `agent` key on purpose: with `agent: false` node builds a fresh
    // Agent that ignores createConnection and dials host:port directly from
    // this machine, silently bypassing the tunnel.
    const req = http.request({
      method: request.method,
      host: request.host,
      port: request.port,
      path: request.path,
      headers,
      createConnection: () => stream as unknown as net.Socket,
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined) continue;
          out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
        }
        resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks).toString('utf8') });
        stream.end();
      });
    });
    req.end(request.body);
  });
}
