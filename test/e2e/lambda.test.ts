import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { parseDocument } from 'yaml';
import type { Env } from '@welcome/common';
import { loadLambdaConfig } from '../../middleware/src/lambda.js';
import { getJson, postJson, ROOT, ServiceProcess } from './platform.js';

const run = promisify(execFile);
const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const dir = mkdtempSync(join(tmpdir(), 'lambda-'));
const inventory = new ServiceProcess('inventory', { DB_PATH: join(dir, 'inventory.db') });

beforeAll(async () => {
  await inventory.start();
});
afterAll(async () => {
  await inventory.kill();
  rmSync(dir, { recursive: true, force: true });
});

let messages = 0;
/**
 * A CRM webhook as a Lambda function URL delivers it: an HTTP API payload 2.0 event, shaped as
 * AWS documents it, with the body base64-encoded unless `plainBody`.
 */
function functionUrlEvent(
  customer: { id: number; name: string },
  options: {
    secret?: string;
    at?: Date;
    plainBody?: boolean;
    tamper?: boolean;
    batchWith?: Array<{ id: number; name: string }>;
  } = {},
) {
  const at = options.at ?? new Date();
  const id = `msg_${(messages += 1)}`;
  const event = (one: { id: number; name: string }) => ({
    type: 'customer.created',
    timestamp: at.toISOString(),
    data: { ...one, email: 'x@example.com', createdAt: at.toISOString() },
  });
  // A batch, as an endpoint with a batch size above 1 sends it: the events as an array, each with its id first.
  const payload = options.batchWith
    ? JSON.stringify([customer, ...options.batchWith].map((one, index) => ({ id: `${id}_${index}`, ...event(one) })))
    : JSON.stringify(event(customer));
  const signature = new Webhook(options.secret ?? secret).sign(id, at, payload);
  const body = options.tamper ? payload.replace(customer.name, `${customer.name}!`) : payload;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      host: 'abcdefghij.lambda-url.us-east-1.on.aws',
      'user-agent': 'got (https://github.com/sindresorhus/got)',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signature,
      'x-amzn-trace-id': 'Root=1-5e723b9d-2a1c5d2b8a7f4c3e9b0d1f2a',
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abcdefghij',
      domainName: 'abcdefghij.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abcdefghij',
      http: {
        method: 'POST',
        path: '/',
        protocol: 'HTTP/1.1',
        sourceIp: '198.51.100.7',
        userAgent: 'got (https://github.com/sindresorhus/got)',
      },
      requestId: `req-${id}`,
      routeKey: '$default',
      stage: '$default',
      time: '27/Nov/2026:01:00:00 +0000',
      timeEpoch: at.getTime(),
    },
    body: options.plainBody ? body : Buffer.from(body).toString('base64'),
    isBase64Encoded: !options.plainBody,
  };
}

/** Runs the built handler through lambda-local, as Lambda would, and returns its result. */
async function invoke(
  event: unknown,
  env: Record<string, string> = {},
): Promise<{ statusCode: number; headers: Record<string, string>; body: Record<string, unknown> }> {
  const environment = {
    INVENTORY_URL: inventory.url,
    CRM_WEBHOOK_SECRET: secret,
    HTTP_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'error',
    ...env,
  };
  const { stdout } = await run(
    process.execPath,
    [
      join(ROOT, 'test/support/run-lambda.mjs'),
      join(ROOT, 'middleware/dist/lambda.js'),
      JSON.stringify(event),
      JSON.stringify(environment),
    ],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? ROOT },
    },
  );
  const result = JSON.parse(stdout.split('\nRESULT ').at(-1)!) as {
    statusCode: number;
    headers: Record<string, string>;
    body: string;
  };
  // The handler answers a JSON object: an outcome, a problem, or the results of a batch.
  return { ...result, body: JSON.parse(result.body) as Record<string, unknown> };
}

const packagesOf = async (customerId: number) =>
  (await getJson(`${inventory.url}/packages?customerId=${customerId}`)) as Array<{ customerName: string }>;

describe('the Lambda handler, run by lambda-local with function-URL events', () => {
  test('a signed customer.created (base64 body) gets its package: 200 created, then 200 already there', async () => {
    const first = await invoke(functionUrlEvent({ id: 101, name: 'Lambda Alice' }));
    expect(first.statusCode).toBe(200);
    expect(first.body).toMatchObject({ customerId: 101, outcome: 'created', packageId: expect.any(Number) });
    const again = await invoke(functionUrlEvent({ id: 101, name: 'Lambda Alice' }));
    expect(again).toMatchObject({
      statusCode: 200,
      body: { outcome: 'alreadyThere', packageId: first.body.packageId },
    });
    expect(await packagesOf(101)).toEqual([expect.objectContaining({ customerName: 'Lambda Alice' })]);
  });

  test('a body that is not base64-encoded is read as it is', async () => {
    const result = await invoke(functionUrlEvent({ id: 102, name: 'Plain Bob' }, { plainBody: true }));
    expect(result).toMatchObject({ statusCode: 200, body: { outcome: 'created' } });
  });

  test.each([
    ['signed with another secret', { secret: `whsec_${Buffer.alloc(32, 1).toString('base64')}` }],
    ['older than five minutes (a replay)', { at: new Date(Date.now() - 10 * 60_000) }],
    ['tampered with after signing', { tamper: true }],
  ])('an event %s is a 401 and no package is made', async (_, options) => {
    const result = await invoke(functionUrlEvent({ id: 103, name: 'Mallory' }, options));
    expect(result.statusCode).toBe(401);
    expect(result.headers['content-type']).toBe('application/problem+json');
    expect(result.body).toMatchObject({ type: '/problems/invalid-signature', status: 401 });
    expect(await packagesOf(103)).toEqual([]);
  });

  test(
    'an Inventory refusal is a 422 with its answer ' + '(no dead-letter table here: the CRM keeps it as failed)',
    async () => {
      await postJson(`${inventory.url}/packages`, { customerId: 104, customerName: 'Someone Else' });
      const result = await invoke(functionUrlEvent({ id: 104, name: 'Carol' }));
      expect(result.statusCode).toBe(422);
      expect(result.body).toMatchObject({
        customerId: 104,
        inventoryStatus: 409,
        inventoryAnswer: { type: '/problems/customer-has-package' },
      });
    },
  );

  test(
    'a batch is answered once every event is: ' +
      '422 with each answer when the Inventory refused one, the others delivered',
    async () => {
      await postJson(`${inventory.url}/packages`, { customerId: 109, customerName: 'Someone Else' });
      const result = await invoke(
        functionUrlEvent({ id: 108, name: 'Batch Erin' }, { batchWith: [{ id: 109, name: 'Batch Frank' }] }),
      );
      expect(result.statusCode).toBe(422);
      expect(result.body.results).toEqual([
        expect.objectContaining({ customerId: 108, outcome: 'created' }),
        expect.objectContaining({ customerId: 109, inventoryStatus: 409 }),
      ]);
      expect(await packagesOf(108)).toEqual([expect.objectContaining({ customerName: 'Batch Erin' })]);
    },
  );

  test('an Inventory that does not answer is a 503, so the CRM sends the event again', async () => {
    const result = await invoke(functionUrlEvent({ id: 105, name: 'Dave' }), { INVENTORY_URL: 'http://127.0.0.1:9' });
    expect(result.statusCode).toBe(503);
    expect(result.headers['Retry-After']).toBe('5');
  });

  test('the bundle that template.yaml deploys runs too, and does not load SQLite', async () => {
    const bundle = join(ROOT, 'middleware/dist-lambda/lambda.mjs');
    await run('npm', ['run', 'build:lambda', '--silent'], { cwd: ROOT });
    expect(readFileSync(bundle, 'utf8')).not.toMatch(/better-sqlite3/);
    const environment = { INVENTORY_URL: inventory.url, CRM_WEBHOOK_SECRET: secret, LOG_LEVEL: 'error' };
    const { stdout } = await run(
      process.execPath,
      [
        join(ROOT, 'test/support/run-lambda.mjs'),
        bundle,
        JSON.stringify(functionUrlEvent({ id: 106, name: 'Bundled Erin' })),
        JSON.stringify(environment),
      ],
      { cwd: ROOT },
    );
    expect(JSON.parse(stdout.split('\nRESULT ').at(-1)!)).toMatchObject({ statusCode: 200 });
  }, 60_000);
});

/** What these tests read of template.yaml. */
interface SamTemplate {
  Resources: {
    CrmWebhookFunction: {
      Type: string;
      Properties: {
        Runtime: string;
        Handler: string;
        CodeUri: string;
        FunctionUrlConfig: unknown;
        Environment: { Variables: Record<string, unknown> };
      };
    };
  };
  Parameters: { CrmWebhookSecret: { NoEcho: boolean }; InventoryApiKey: { NoEcho: boolean } };
}

describe('template.yaml agrees with the code', () => {
  const template = parseDocument(readFileSync(join(ROOT, 'template.yaml'), 'utf8')).toJS({
    maxAliasCount: -1,
  }) as SamTemplate;
  const fn = template.Resources.CrmWebhookFunction;

  test('its handler is the built file and its export', async () => {
    expect(fn.Type).toBe('AWS::Serverless::Function');
    expect(fn.Properties.Runtime).toBe('nodejs20.x');
    const [file, exported] = fn.Properties.Handler.split('.');
    expect(fn.Properties.CodeUri).toBe('middleware/dist-lambda/');
    expect(`${file}.mjs`).toBe('lambda.mjs');
    expect(readFileSync(join(ROOT, 'package.json'), 'utf8')).toContain('--outfile=middleware/dist-lambda/lambda.mjs');
    expect(existsSync(join(ROOT, 'middleware/dist/lambda.js'))).toBe(true);
    expect(typeof (await import('../../middleware/src/lambda.js'))[exported as 'handler']).toBe('function');
    expect(fn.Properties.FunctionUrlConfig).toEqual({ AuthType: 'NONE' });
  });

  test('it sets exactly the environment variables the handler reads, the secret from a NoEcho parameter', () => {
    const read = new Set<string>();
    try {
      loadLambdaConfig(new Proxy({}, { get: (_, name) => (read.add(String(name)), undefined) }) as Env);
    } catch {
      // Required variables are missing here; the look-ups are what count.
    }
    expect(Object.keys(fn.Properties.Environment.Variables).sort()).toEqual([...read].sort());
    expect(template.Parameters.CrmWebhookSecret.NoEcho).toBe(true);
    expect(template.Parameters.InventoryApiKey.NoEcho).toBe(true);
  });
});
