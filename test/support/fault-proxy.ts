import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy does to the next requests, until told otherwise. */
export type Fault =
  | { kind: 'status'; status: number }
  /** Never answers: the client's timeout has to end it. */
  | { kind: 'hang' }
  /** Drops the connection before answering. */
  | { kind: 'reset' }
  /** Forwards, and answers late (but within the client's timeout). */
  | { kind: 'slow'; ms: number }
  /** Forwards, lets the upstream act, then drops the answer: the work is done, the client never hears. */
  | { kind: 'drop-answer' }
  /** Holds the request before forwarding it, so the upstream can be restarted under it. */
  | { kind: 'stall'; ms: number };

export const describeFault = (fault: Fault): string =>
  fault.kind === 'status'
    ? `status ${fault.status}`
    : fault.kind === 'slow' || fault.kind === 'stall'
      ? `${fault.kind} ${fault.ms}ms`
      : fault.kind;

/**
 * A small HTTP proxy between the middleware and one upstream, whose failures the test controls.
 * It forwards everything untouched while no fault is set.
 */
export class FaultProxy {
  private fault: Fault | null = null;
  private readonly server: Server;
  private readonly hung = new Set<Socket>();
  port = 0;

  constructor(private readonly target: string) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  set(fault: Fault | null): void {
    this.fault = fault;
    if (fault?.kind !== 'hang') {
      for (const socket of this.hung) socket.destroy();
      this.hung.clear();
    }
  }

  async close(): Promise<void> {
    this.set(null);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const fault = this.fault;
    switch (fault?.kind) {
      case 'status':
        req.resume();
        res.writeHead(fault.status, { 'Content-Type': 'application/problem+json' });
        res.end(JSON.stringify({ type: 'about:blank', title: 'Injected fault', status: fault.status }));
        return;
      case 'hang':
        req.resume();
        this.hung.add(req.socket);
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'stall':
        setTimeout(() => this.forward(req, res, 0, false), fault.ms);
        return;
      case 'slow':
        this.forward(req, res, fault.ms, false);
        return;
      case 'drop-answer':
        this.forward(req, res, 0, true);
        return;
      default:
        this.forward(req, res, 0, false);
    }
  }

  private forward(req: IncomingMessage, res: ServerResponse, delayMs: number, dropAnswer: boolean): void {
    const upstream = request(
      new URL(req.url ?? '/', this.target),
      { method: req.method, headers: { ...req.headers, host: new URL(this.target).host } },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          if (dropAnswer) return void req.socket.destroy();
          setTimeout(() => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(Buffer.concat(chunks));
          }, delayMs);
        });
        answer.on('error', () => req.socket.destroy());
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  }
}
