import type { ExecResult, HttpRequest, HttpResponse, Transport } from '../../lib/transport/transport.js';

/** A scripted transport for unit tests: answers each script with `respond`, records every script. */
export class FakeTransport implements Transport {
  readonly scripts: string[] = [];
  closed = false;
  constructor(
    readonly host: string,
    readonly respond: (script: string, index: number) => ExecResult | Promise<ExecResult>,
    readonly onHttp: (req: HttpRequest) => HttpResponse = () => ({ status: 404, headers: {}, body: '' }),
  ) {}
  async exec(script: string): Promise<ExecResult> {
    this.scripts.push(script);
    return this.respond(script, this.scripts.length - 1);
  }
  async http(request: HttpRequest): Promise<HttpResponse> {
    return this.onHttp(request);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
