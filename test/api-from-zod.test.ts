import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { z } from 'zod';
import { createSilentLogger, personName, schemaOf } from '@welcome/common';
import { createApp as createCrm } from '../crm/src/app.js';
import { crmSchema } from '../crm/src/store/schema.js';
import { newCustomerBody } from '../crm/src/http/routes.js';
import { createApp as createInventory } from '../inventory/src/app.js';
import { inventorySchema } from '../inventory/src/store/schema.js';
import { createApp as createMiddleware } from '../middleware/src/app.js';
import { middlewareSchema } from '../middleware/src/store/schema.js';
import { wireMiddleware } from '../middleware/src/wiring.js';
import { sqliteAt } from './support/databases.js';
import { allowedBody, forbiddenBody, type Body, type ObjectSchema } from './support/schema-bodies.js';
import { serveApp, type RunningServer } from './support/servers.js';

// The request bodies of the OpenAPI documents as each service serves them, held to what its route
// does: every body a document forbids is refused (400, problem+json) and makes nothing; every body
// it allows is taken (or refused by a rule of the route's own that the document lists, such as
// 409), never refused as invalid. FUZZ_SEED replays a failure; fast-check prints the shrunk body.
const seed =
  process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED ?? 20261203);
const numRuns = 60;

interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, ObjectSchema> };
}
interface Operation {
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<string, { description: string }>;
  parameters?: Array<{ name: string; schema?: { maximum?: number } }>;
}

/**
 * What the document states only in words, which a JSON Schema cannot say: fields whose rules its
 * description gives (they take the document's examples), and rules across fields, in the words of
 * the operation's 400 answer. Each is checked to be in the document.
 */
const IN_WORDS: Record<
  string,
  { fields?: Record<string, string>; across?: { words: string; breaks(body: Body): boolean } }
> = {
  NewWebhookEndpoint: { fields: { secret: 'base64 of 24 to 64 bytes' } },
  NewReconciliation: {
    across: {
      words: 'toId below fromId',
      breaks: ({ fromId, toId }) => typeof fromId === 'number' && typeof toId === 'number' && toId < fromId,
    },
  },
};

let servers: Record<'crm' | 'inventory' | 'middleware', RunningServer>;
let stopReconciler: () => Promise<void>;
beforeAll(async () => {
  const upstream = 'http://127.0.0.1:9';
  const logger = createSilentLogger();
  const deps = wireMiddleware({
    database: sqliteAt(middlewareSchema),
    logger,
    crmUrl: upstream,
    inventoryUrl: upstream,
    timeoutMs: 100,
    retryDelayMs: 0,
  });
  // "fromId beyond the cursor" is a rule of the middleware's state: with the cursor at the end, no fromId is.
  await deps.stores.deliveries.advanceCursor(Number.MAX_SAFE_INTEGER);
  stopReconciler = () => deps.reconciler.stop();
  servers = {
    crm: await serveApp(createCrm({ database: sqliteAt(crmSchema), logger })),
    inventory: await serveApp(createInventory({ database: sqliteAt(inventorySchema), logger })),
    middleware: await serveApp(createMiddleware(deps)),
  };
});
afterAll(async () => {
  await stopReconciler?.();
  await Promise.all(Object.values(servers ?? {}).map((server) => server.close()));
});

const served = async (service: keyof typeof servers) =>
  (await (await fetch(`${servers[service].url}/openapi.json`)).json()) as Document;

/** The operation whose request body is the schema `name`, and its path. */
function operationOf(document: Document, name: string): { path: string; method: string; operation: Operation } {
  for (const [path, methods] of Object.entries(document.paths))
    for (const [method, operation] of Object.entries(methods))
      if (operation.requestBody?.content['application/json']?.schema.$ref === `#/components/schemas/${name}`)
        return { path, method, operation };
  throw new Error(`no operation of the document takes ${name}`);
}

async function send(url: string, method: string, body: unknown) {
  const response = await fetch(url, {
    method: method.toUpperCase(),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.json() };
}

describe.each([
  ['crm', 'NewCustomer'],
  ['crm', 'NewWebhookEndpoint'],
  ['inventory', 'PackageRequest'],
  ['middleware', 'NewReconciliation'],
] as const)('%s: the %s its document serves', (service, name) => {
  let url: string;
  let method: string;
  let schema: ObjectSchema;
  let operation: Operation;
  let inWords: string[];
  /** The ids of what the collection holds: a refused body must add none. */
  let ids: () => Promise<unknown[]>;

  beforeAll(async () => {
    const document = await served(service);
    schema = document.components.schemas[name]!;
    let path: string;
    ({ path, method, operation } = operationOf(document, name));
    url = `${servers[service].url}${path}`;
    inWords = Object.keys(IN_WORDS[name]?.fields ?? {});
    const limit = document.paths[path]!.get?.parameters?.find((p) => p.name === 'limit')?.schema?.maximum ?? 100;
    ids = async () =>
      ((await (await fetch(`${url}?limit=${limit}`)).json()) as Array<{ id: unknown }>).map((r) => r.id);
  });

  test('what a JSON Schema cannot say is in the document’s words', () => {
    const { fields = {}, across } = IN_WORDS[name] ?? {};
    for (const [field, words] of Object.entries(fields)) expect(schema.properties[field]?.description).toContain(words);
    if (across) expect(operation.responses['400']?.description).toContain(across.words);
  });

  test('every body it forbids is refused with 400 problem+json, and makes nothing', async () => {
    const across = IN_WORDS[name]?.across;
    const breaking = across
      ? [
          allowedBody(schema, inWords)
            .filter(across.breaks)
            .map((body) => ({ rule: across.words, body })),
        ]
      : [];
    await fc.assert(
      fc.asyncProperty(fc.oneof(forbiddenBody(schema, inWords), ...breaking), async ({ body }) => {
        const before = await ids();
        const answer = await send(url, method, body);
        expect([answer.status, answer.type, answer.body.status]).toEqual([
          400,
          expect.stringMatching(/^application\/problem\+json/),
          400,
        ]);
        expect(await ids()).toEqual(before);
      }),
      { numRuns, seed },
    );
  });

  test('every body it allows is taken, or refused by a documented rule of the route, never as invalid', async () => {
    const across = IN_WORDS[name]?.across;
    const taken = Object.keys(operation.responses)
      .filter((status) => /^2\d\d$|^409$/.test(status))
      .map(Number);
    expect(taken.length).toBeGreaterThan(0);
    await fc.assert(
      fc.asyncProperty(
        allowedBody(schema, inWords).filter((body) => !across?.breaks(body)),
        async (body) => {
          const answer = await send(url, method, body);
          if (!taken.includes(answer.status))
            throw new Error(`answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        },
      ),
      { numRuns, seed },
    );
  });
});

describe('each request body is described once, by the zod schema that validates it', () => {
  test('a rule changed in zod shows in the schema the document is made of', () => {
    const stricter = newCustomerBody.extend({
      name: personName.optional(),
      email: z.string().trim().max(100, 'must be at most 100 characters').pipe(z.email()),
    });
    const before = schemaOf(newCustomerBody) as {
      required: string[];
      properties: Record<string, { maxLength?: number }>;
    };
    const after = schemaOf(stricter) as typeof before;
    expect([before.required, before.properties.email!.maxLength]).toEqual([['name', 'email'], 254]);
    expect([after.required, after.properties.email!.maxLength]).toEqual([['email'], 100]);
  });

  test('what a refinement checks is told by its meta: a person’s name has its pattern and its description', () => {
    expect(schemaOf(personName)).toEqual({
      type: 'string',
      pattern: '^\\s*\\S(?:[\\s\\S]{0,198}\\S)?\\s*$',
      description: expect.stringMatching(/^1 to 200 characters \(Unicode code points\)/),
      examples: ['Alice'],
    });
  });
});
