import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A round-robin HTTP load balancer in front of a service's replicas, as a reverse proxy would be:
 * each request goes to the next replica; a replica that refuses the connection (it is down) is
 * skipped for the next, since nothing reached it; any other failure is a 502. What each replica
 * answered is counted.
 */
export class Balancer {
  private readonly server: Server;
  private next = 0;
  readonly answered = new Map<string, number>();
  port = 0;

  constructor(private readonly backends: () => string[]) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const backends = this.backends();
    for (let tried = 0; tried < backends.length; tried++) {
      const target = backends[this.next++ % backends.length]!;
      const outcome = await this.forward(target, req, body, res);
      if (outcome === 'answered') {
        this.answered.set(target, (this.answered.get(target) ?? 0) + 1);
        return;
      }
      if (outcome === 'failed') break;
    }
    if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'application/problem+json' });
    res.end(
      JSON.stringify({
        type: '/problems/bad-gateway',
        title: 'Bad Gateway',
        status: 502,
        detail: 'No replica answered.',
      }),
    );
  }

  private forward(
    target: string,
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
  ): Promise<'answered' | 'refused' | 'failed'> {
    return new Promise((resolve) => {
      const url = new URL(req.url ?? '/', target);
      const upstream = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', () => resolve('answered'));
        answer.on('error', () => {
          res.destroy();
          resolve('failed');
        });
      });
      upstream.on('error', (error: NodeJS.ErrnoException) =>
        resolve(error.code === 'ECONNREFUSED' ? 'refused' : 'failed'),
      );
      res.on('close', () => upstream.destroy());
      upstream.end(body);
    });
  }
}
