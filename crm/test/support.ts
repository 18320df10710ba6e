import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from '@jest/globals';
import request from 'supertest';
import { createSilentLogger } from '@welcome/common';
import { createCrm, type CrmDeps, type CrmParts } from '../src/app.js';
import { crmSchema } from '../src/store/schema.js';
import { serveHandler, type RunningServer } from '../../test/support/servers.js';
import { testDatabases, type Backend } from '../../test/support/databases.js';

export const databases = testDatabases('crm', crmSchema);
export const running: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((item) => item.stop()));
});

/**
 * The CRM with its dispatcher running, as index.ts starts it, in a fresh database unless told;
 * retries every 50 ms in tests.
 */
export async function startedCrm(
  backend: Backend,
  overrides: Partial<CrmDeps> = {},
): Promise<{ parts: CrmParts; http: ReturnType<typeof request> }> {
  const parts = createCrm({
    database: overrides.database ?? (await databases.open(backend)),
    logger: createSilentLogger(),
    webhookRetryScheduleMs: [50, 50],
    webhookTimeoutMs: 300,
    ...overrides,
  });
  running.push({ stop: () => parts.stop() });
  await parts.start();
  return { parts, http: request(parts.app.callback()) };
}

/** Where a CRM started again finds the data of the one before: a file, or a schema. */
export const lastingData = (backend: Backend) =>
  backend === 'sqlite'
    ? { path: join(mkdtempSync(join(tmpdir(), 'crm-outbox-')), 'crm.db') }
    : { schema: databases.newSchema() };

export interface Received {
  headers: Record<string, string>;
  body: string;
}

/** A subscriber that records what it is sent and answers `status()` (or hangs when it is 0). */
export async function subscriber(status: () => number = () => 204): Promise<RunningServer & { received: Received[] }> {
  const received: Received[] = [];
  const server = await serveHandler((req, res, body) => {
    received.push({ headers: req.headers as Record<string, string>, body });
    const answer = status();
    if (answer === 0) return; // hang
    res.writeHead(answer);
    res.end();
  });
  running.push({ stop: server.close });
  return Object.assign(server, { received });
}

export const postJson = (http: ReturnType<typeof request>, path: string, body: unknown) =>
  http.post(path).set('Content-Type', 'application/json').send(JSON.stringify(body));
export const newCustomer = (http: ReturnType<typeof request>, name: string) =>
  postJson(http, '/customers', {
    name,
    email: `${name.toLowerCase()}-${Math.random().toString(36).slice(2)}@example.com`,
  });

/** An endpoint's manners as long as it answers: enabled, no Retry-After running, no run of failures. */
export const WELL_BEHAVED = {
  enabled: true,
  disabledAt: null,
  disabledReason: null,
  throttledUntil: null,
  failingSince: null,
} as const;
