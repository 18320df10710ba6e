import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from '@jest/globals';
import { waitFor } from '../support/servers.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export type ServiceName = 'crm' | 'inventory' | 'middleware';

export interface LogRecord {
  level: string;
  message: string;
  [field: string]: unknown;
}

/** A port free on loopback now (the OS's pick), for a service that must be known before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** One built service running as its own process, exactly as the Dockerfile starts it. */
export class ServiceProcess {
  readonly logs: LogRecord[] = [];
  readonly stderr: string[] = [];
  port = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(
    readonly name: ServiceName,
    readonly env: Record<string, string>,
    /**
     * Where the service's log lines go instead of `logs`, when given (a file, as a container's log
     * driver keeps them): a benchmark's services log as shipped, and nobody parses the lines.
     */
    readonly logFile?: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process (on its old port after a restart) and resolves once it listens. */
  async start(): Promise<this> {
    // Without info lines (a benchmark's LOG_LEVEL=warn), "Listening on" is not said: the port is
    // chosen here and /health tells.
    const quiet = this.logFile !== undefined || this.env.LOG_LEVEL === 'warn' || this.env.LOG_LEVEL === 'error';
    if (quiet && this.port === 0) this.port = await freePort();
    const env: Record<string, string | undefined> = {
      ...process.env,
      HOST: '127.0.0.1',
      ...this.env,
      PORT: String(this.port),
      LOG_FORMAT: 'json',
    };
    delete env.NODE_OPTIONS;
    const logFd = this.logFile === undefined ? undefined : openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [join(ROOT, this.name, 'dist/index.js')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', logFd ?? 'pipe', 'pipe'],
    });
    if (logFd !== undefined) closeSync(logFd);
    this.child = child;
    this.exited = new Promise((done) => child.once('exit', (code) => done(code)));
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.logs.push(JSON.parse(line) as LogRecord);
    });
    child.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    const seen = this.logs.length;
    const listening = await Promise.race([
      quiet
        ? waitFor(`${this.name} to answer`, async () =>
            (await fetch(`${this.url}/health`).catch(() => undefined))?.ok ? { port: this.port } : undefined,
          )
        : waitFor(`${this.name} to listen`, () =>
            this.logs.slice(seen).find((line) => line.message.startsWith('Listening on')),
          ),
      this.exited.then((code) => {
        throw new Error(`${this.name} exited with ${code} before listening: ${this.stderr.join('')}`);
      }),
    ]);
    this.port = listening.port as number;
    return this;
  }

  /** SIGKILL: no chance to finish anything. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, and the exit code it ended with. */
  async stop(): Promise<number | null> {
    this.child?.kill('SIGTERM');
    return this.exited;
  }

  async restart(): Promise<this> {
    await this.kill();
    return this.start();
  }
}

/** The three built services on free ports, each with its own database in a fresh folder. */
export class Platform {
  readonly dir = mkdtempSync(join(tmpdir(), 'platform-'));
  readonly crm: ServiceProcess;
  readonly inventory: ServiceProcess;
  readonly middleware: ServiceProcess;

  constructor(
    options: {
      pollIntervalMs?: number;
      httpTimeoutMs?: number;
      backoffMaxMs?: number;
      /** Where each service keeps its database (a disk of its own, say); a folder of the platform's otherwise. */
      dataDirs?: Partial<Record<ServiceName, string>>;
      /** Push: the CRM's webhook pointed at the middleware, both with this secret. */
      webhookSecret?: string;
      /** WEBHOOK_BATCH_SIZE of that webhook: 100 by default, as make run and compose set it. */
      webhookBatchSize?: number;
      longPollS?: number;
      deliveryConcurrency?: number;
      /** LOG_LEVEL for all three (benchmarks use warn, so that reading logs costs nothing). */
      logLevel?: string;
      /** DATABASE_URL for all three: PostgreSQL instead of their SQLite files. */
      databaseUrl?: string;
      /** The log lines in files of the platform's folder, not read (a benchmark's: reading them costs CPU). */
      logsToFiles?: boolean;
    } = {},
  ) {
    this.webhookSecret = options.webhookSecret;
    this.webhookBatchSize = options.webhookBatchSize ?? 100;
    const dbPath = (service: ServiceName) => join(options.dataDirs?.[service] ?? this.dir, `${service}.db`);
    const logLevel: Record<string, string> = options.logLevel ? { LOG_LEVEL: options.logLevel } : {};
    const database = (service: ServiceName): Record<string, string> =>
      options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { DB_PATH: dbPath(service) };
    const logFile = (service: ServiceName) => (options.logsToFiles ? join(this.dir, `${service}.log`) : undefined);
    this.crm = new ServiceProcess('crm', { ...database('crm'), ...logLevel }, logFile('crm'));
    this.inventory = new ServiceProcess('inventory', { ...database('inventory'), ...logLevel }, logFile('inventory'));
    this.middleware = new ServiceProcess(
      'middleware',
      {
        ...database('middleware'),
        ...logLevel,
        POLL_INTERVAL_MS: String(options.pollIntervalMs ?? 100),
        HTTP_TIMEOUT_MS: String(options.httpTimeoutMs ?? 2000),
        BACKOFF_MAX_MS: String(options.backoffMaxMs ?? 1000),
        ...(options.longPollS ? { LONG_POLL_S: String(options.longPollS) } : {}),
        ...(options.deliveryConcurrency ? { DELIVERY_CONCURRENCY: String(options.deliveryConcurrency) } : {}),
        ...(options.webhookSecret ? { CRM_WEBHOOK_SECRET: options.webhookSecret } : {}),
      },
      logFile('middleware'),
    );
  }

  readonly webhookSecret: string | undefined;
  readonly webhookBatchSize: number;

  async start(which: { middleware?: boolean } = {}): Promise<this> {
    if (this.webhookSecret) {
      // The CRM must know where the middleware will listen before either starts.
      this.middleware.port = await freePort();
      this.crm.env.WEBHOOK_URL = `${this.middleware.url}/webhooks/crm`;
      this.crm.env.WEBHOOK_SECRET = this.webhookSecret;
      this.crm.env.WEBHOOK_BATCH_SIZE = String(this.webhookBatchSize);
    }
    await Promise.all([this.crm.start(), this.inventory.start()]);
    // Only now are the upstream ports known.
    this.middleware.env.CRM_URL = this.crm.url;
    this.middleware.env.INVENTORY_URL = this.inventory.url;
    if (which.middleware !== false) await this.middleware.start();
    return this;
  }

  async close(): Promise<void> {
    await Promise.all([this.crm.kill(), this.inventory.kill(), this.middleware.kill()]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// The tests and benchmarks read many different answers through these two, each asserting the shape it expects.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the caller's assertions are the type
export async function postJson(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the caller's assertions are the type
export async function getJson(url: string): Promise<any> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return response.json();
}

/** Every item of a paged list, following `Link: rel="next"`. */
export async function getAll<T>(url: string): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined = `${url}?limit=1000`;
  while (next) {
    const response: Response = await fetch(next);
    items.push(...((await response.json()) as T[]));
    const link = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
    next = link ? new URL(link, next).href : undefined;
  }
  return items;
}

/** A customer and a package as the tests read them back. */
export interface Customer {
  id: number;
  name: string;
}
export interface Package {
  id: number;
  customerId: number;
  customerName: string;
}

/**
 * The promise itself: once the Inventory has caught up (within `waitMs`), every CRM customer has
 * exactly one package, under the right name, and no package belongs to anyone else.
 */
export async function expectExactlyOnePackageEach(p: Platform, waitMs = 30_000): Promise<void> {
  const customers = await getAll<Customer>(`${p.crm.url}/customers`);
  await waitFor(
    'a package for every customer',
    async () => (await getAll<Package>(`${p.inventory.url}/packages`)).length >= customers.length,
    waitMs,
  ).catch(() => undefined);
  const packages = await getAll<Package>(`${p.inventory.url}/packages`);
  const byCustomer = new Map<number, Package[]>();
  for (const pkg of packages) byCustomer.set(pkg.customerId, [...(byCustomer.get(pkg.customerId) ?? []), pkg]);
  const lost = customers.filter((c) => !byCustomer.has(c.id)).map((c) => c.id);
  const doubled = [...byCustomer].filter(([, list]) => list.length > 1).map(([id]) => id);
  const misnamed = customers.filter((c) => byCustomer.get(c.id)?.[0]?.customerName !== c.name).map((c) => c.id);
  expect({ lost, doubled, misnamed, packages: packages.length }).toEqual({
    lost: [],
    doubled: [],
    misnamed: [],
    packages: customers.length,
  });
}
