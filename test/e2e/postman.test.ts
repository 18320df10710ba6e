import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import newman, { type NewmanRunSummary } from 'newman';
import { Platform, ROOT } from './platform.js';

const webhookSecret = `whsec_${Buffer.alloc(24, 8).toString('base64')}`;
let platform: Platform;
beforeAll(async () => {
  platform = await new Platform({ pollIntervalMs: 200, webhookSecret }).start();
});
afterAll(async () => {
  await platform.close();
});

const collectionFile = join(ROOT, 'postman/welcome-integration.postman_collection.json');
const environmentFile = join(ROOT, 'postman/local.postman_environment.json');

function runCollection(platform: Platform, apiKey = ''): Promise<NewmanRunSummary> {
  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection: JSON.parse(readFileSync(collectionFile, 'utf8')),
        environment: JSON.parse(readFileSync(environmentFile, 'utf8')),
        // The environment's localhost:3001/3002/3003, pointed at this test's free ports.
        envVar: [
          { key: 'crm', value: platform.crm.url },
          { key: 'inventory', value: platform.inventory.url },
          { key: 'middleware', value: platform.middleware.url },
          { key: 'apiKey', value: apiKey },
        ],
        reporters: [],
        timeoutRequest: 10_000,
      },
      (error, summary) => (error ? reject(error) : resolve(summary)),
    );
  });
}

test('the Postman collection passes every one of its checks against the running services', async () => {
  const summary = await runCollection(platform);
  const failures = summary.run.failures.map((f) => `${f.source?.name ?? '?'}: ${f.error.message}`);
  expect(failures).toEqual([]);
  const requests = JSON.parse(readFileSync(collectionFile, 'utf8')).item.flatMap(
    (folder: { item: unknown[] }) => folder.item,
  ).length;
  // Every request ran (the wait may have run more than once) and each made at least one assertion.
  expect(summary.run.stats.requests.total).toBeGreaterThanOrEqual(requests);
  expect(summary.run.stats.assertions.total).toBeGreaterThanOrEqual(requests);
  expect(summary.run.stats.assertions.failed).toBe(0);
}, 60_000);

test(
  'run twice in a row against the same services, the collection passes both times, ' +
    'each run with a reconciliation of its own',
  async () => {
    const started: string[] = [];
    for (const run of [1, 2]) {
      const summary = await runCollection(platform);
      expect(summary.run.failures.map((f) => `run ${run}, ${f.source?.name ?? '?'}: ${f.error.message}`)).toEqual([]);
      // The run before followed its reconciliation to the end, so this one is not turned away with a 409.
      const start = summary.run.executions.find((execution) => execution.item.name === 'Start a reconciliation');
      expect(start?.response.code).toBe(202);
      started.push(start?.response.headers.get('Location') ?? '');
    }
    expect(started[0]).toMatch(/^\/reconciliations\/\d+$/);
    expect(started[1]).toMatch(/^\/reconciliations\/\d+$/);
    expect(started[1]).not.toBe(started[0]);
  },
  60_000,
);

test('with API keys on all three services, the collection passes with the key in its apiKey variable', async () => {
  const key = 'postman-shared-key-0123456789';
  const keyed = new Platform({ pollIntervalMs: 200, webhookSecret });
  for (const service of [keyed.crm, keyed.inventory, keyed.middleware]) service.env.API_KEYS = key;
  Object.assign(keyed.middleware.env, { CRM_API_KEY: key, INVENTORY_API_KEY: key });
  try {
    await keyed.start();
    const summary = await runCollection(keyed, key);
    expect(summary.run.failures.map((f) => `${f.source?.name ?? '?'}: ${f.error.message}`)).toEqual([]);
    expect(summary.run.stats.assertions.failed).toBe(0);
  } finally {
    await keyed.close();
  }
}, 60_000);

test(
  'without a webhook (no WEBHOOK_URL, no CRM_WEBHOOK_SECRET) ' + 'the collection passes too, skipping what needs one',
  async () => {
    const unhooked = new Platform({ pollIntervalMs: 200 });
    try {
      await unhooked.start();
      const summary = await runCollection(unhooked);
      expect(summary.run.failures.map((f) => `${f.source?.name ?? '?'}: ${f.error.message}`)).toEqual([]);
      const ran = (name: string) => summary.run.executions.filter((execution) => execution.item.name === name);
      expect(
        ran('Its message log: one row per customer, delivered').every((execution) => execution.response === undefined),
      ).toBe(true);
      const names = summary.run.executions.flatMap((execution) =>
        (execution.assertions ?? []).map((assertion) => assertion.assertion),
      );
      expect(names).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/without WEBHOOK_URL/),
          expect.stringMatching(/receiver is off/),
        ]),
      );
    } finally {
      await unhooked.close();
    }
  },
  60_000,
);

test('the environment names the three base URLs of a local run, and an empty API key', () => {
  const environment = JSON.parse(readFileSync(environmentFile, 'utf8')) as {
    values: Array<{ key: string; value: string }>;
  };
  expect(Object.fromEntries(environment.values.map((v) => [v.key, v.value]))).toEqual({
    crm: 'http://localhost:3001',
    inventory: 'http://localhost:3002',
    middleware: 'http://localhost:3003',
    apiKey: '',
  });
});
