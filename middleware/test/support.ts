import { afterEach } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { createSilentLogger, type Db, type Logger, type ServiceDatabase } from '@welcome/common';
import { createApp as createCrm } from '../../crm/src/app.js';
import { crmSchema } from '../../crm/src/store/schema.js';
import { createApp as createInventory } from '../../inventory/src/app.js';
import type { GateSettings } from '../src/domain/flow/gate.js';
import { inventorySchema } from '../../inventory/src/store/schema.js';
import { middlewareSchema } from '../src/store/schema.js';
import { wireMiddleware, type Middleware } from '../src/wiring.js';
import { sendJson, serveApp, serveHandler, type RunningServer } from '../../test/support/servers.js';
import { sqliteAt, testDatabases, type Backend } from '../../test/support/databases.js';

/** The middleware's databases of the test file that imports this: closed after each test, dropped after the file. */
export const middlewareDatabases = testDatabases('middleware', middlewareSchema);

/**
 * The middleware's dependencies, wired as in production, with a short retry delay for tests: on
 * SQLite (in memory, or the file at `dbPath`) unless `backend` says PostgreSQL, in a fresh schema
 * unless `schema` names one that replicas share.
 */
export async function middlewareDeps(options: {
  crmUrl: string;
  inventoryUrl: string;
  backend?: Backend;
  logger?: Logger;
  dbPath?: string;
  schema?: string;
  replicaId?: string;
  timeoutMs?: number;
  retryDelayMs?: number;
  webhookSecret?: string;
  longPollS?: number;
  concurrency?: number;
  reconcileIntervalMs?: number;
  reconcileTiming?: { checkMs?: number; leaseMs?: number };
  traceUiUrl?: string;
  /** INVENTORY_RATE_LIMIT, BREAKER_FAILURES, BREAKER_PROBE_INTERVAL. */
  flow?: Partial<GateSettings>;
  apiKeys?: readonly string[];
}): Promise<Middleware> {
  const logger = options.logger ?? createSilentLogger();
  const database = await middlewareDatabases.open(options.backend ?? 'sqlite', {
    logger,
    ...(options.dbPath ? { path: options.dbPath } : {}),
    ...(options.schema ? { schema: options.schema } : {}),
  });
  return wireMiddleware({
    database,
    logger,
    ...(options.replicaId ? { replicaId: options.replicaId } : {}),
    crmUrl: options.crmUrl,
    inventoryUrl: options.inventoryUrl,
    timeoutMs: options.timeoutMs ?? 2000,
    retryDelayMs: options.retryDelayMs ?? 10,
    webhookSecret: options.webhookSecret,
    longPollS: options.longPollS ?? 0,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    reconcile: { intervalMs: options.reconcileIntervalMs, ...options.reconcileTiming },
    traceUiUrl: options.traceUiUrl,
    ...(options.flow ? { flow: options.flow } : {}),
    ...(options.apiKeys ? { apiKeys: options.apiKeys } : {}),
  });
}

/** The real CRM and Inventory apps on free ports, with in-memory databases. */
export async function realUpstreams(): Promise<{
  crm: RunningServer;
  inventory: RunningServer;
  close: () => Promise<void>;
}> {
  const crm = await serveApp(createCrm({ database: sqliteAt(crmSchema), logger: createSilentLogger() }));
  const inventory = await serveApp(
    createInventory({ database: sqliteAt(inventorySchema), logger: createSilentLogger() }),
  );
  return { crm, inventory, close: async () => void (await Promise.all([crm.close(), inventory.close()])) };
}

export async function createCustomer(
  crmUrl: string,
  name: string,
  email = `${name.toLowerCase().replace(/\W/g, '')}-${Math.random().toString(36).slice(2)}@example.com`,
) {
  const response = await fetch(`${crmUrl}/customers`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, email }),
  });
  if (response.status !== 201) throw new Error(`CRM answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as { id: number; name: string };
}

/** Makes a package straight at the Inventory, as if someone had been there first. */
export async function postPackage(inventoryUrl: string, customerId: number, customerName: string): Promise<void> {
  await fetch(`${inventoryUrl}/packages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ customerId, customerName }),
  });
}

export async function listPackages(
  inventoryUrl: string,
): Promise<Array<{ id: number; customerId: number; customerName: string }>> {
  const response = await fetch(`${inventoryUrl}/packages?limit=1000`);
  return (await response.json()) as Array<{ id: number; customerId: number; customerName: string }>;
}

/**
 * An Inventory in front of a real one: for each package request, `intercept` may name a status to
 * answer instead (a refusal, an outage); otherwise the request goes through.
 */
export function gatedInventory(
  inventoryUrl: string,
  intercept: (request: { customerId: number }) => number | undefined,
  delayMs = 0,
): Promise<RunningServer> {
  return serveHandler(async (_req, res, body) => {
    const status = intercept(JSON.parse(body) as { customerId: number });
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (status !== undefined) return sendJson(res, status, { title: 'Refused by the test', status });
    const answer = await fetch(`${inventoryUrl}/packages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
    });
    sendJson(res, answer.status, await answer.json());
  });
}

/**
 * Closes, after each test, the servers the test started: `upstreams()` and `server()` start and
 * register in one step.
 */
export function closedAfterEach() {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });
  return {
    async server<T extends RunningServer>(starting: Promise<T>): Promise<T> {
      const server = await starting;
      cleanups.push(server.close);
      return server;
    },
    async upstreams() {
      const both = await realUpstreams();
      cleanups.push(both.close);
      return both;
    },
  };
}

/** A CRM webhook as the CRM sends it: the event body and its Standard Webhooks headers. */
export function signedEvent(
  secret: string,
  data: unknown,
  options: { id?: string; at?: Date; type?: string } = {},
): { body: string; headers: Record<string, string> } {
  const at = options.at ?? new Date();
  const id = options.id ?? `msg_${Math.random().toString(36).slice(2)}`;
  return signed(
    secret,
    id,
    at,
    JSON.stringify({ type: options.type ?? 'customer.created', timestamp: at.toISOString(), data }),
  );
}

/** A body with the Standard Webhooks headers that sign it. */
function signed(secret: string, id: string, at: Date, body: string): { body: string; headers: Record<string, string> } {
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, at, body),
    },
  };
}

/**
 * A batch as an endpoint with a batch size above 1 gets it:
 * a JSON array of customer.created events, each with its id, signed once.
 */
export function signedBatch(
  secret: string,
  customers: unknown[],
  options: { id?: string } = {},
): { body: string; headers: Record<string, string> } {
  const at = new Date();
  const id = options.id ?? `batch_${Math.random().toString(36).slice(2)}`;
  return signed(
    secret,
    id,
    at,
    JSON.stringify(
      customers.map((data, index) => ({
        id: `msg_${index + 1}`,
        type: 'customer.created',
        timestamp: at.toISOString(),
        data,
      })),
    ),
  );
}

/** An Inventory in front of a real one that counts the package requests it passes on, waiting `delayMs` before each. */
export async function countingInventory(
  inventoryUrl: string,
  delayMs = 0,
): Promise<RunningServer & { requests: number[] }> {
  const requests: number[] = [];
  const server = await gatedInventory(
    inventoryUrl,
    (request) => {
      requests.push(request.customerId);
      return undefined;
    },
    delayMs,
  );
  return Object.assign(server, { requests });
}

/** The SQLite file under a middleware's deps, for tests that break its commits. */
export function sqliteOf(deps: { database: ServiceDatabase }): Db {
  if (deps.database.kind !== 'sqlite') throw new Error('this test needs the middleware on SQLite');
  return deps.database.db;
}
