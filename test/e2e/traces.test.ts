import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { waitFor } from '../support/servers.js';
import { getJson, Platform, postJson, type Customer } from './platform.js';

const secret = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;
let platform: Platform | undefined;
let receiver: OtlpReceiver | undefined;
let inventoryFront: Server | undefined;
afterEach(async () => {
  await platform?.close();
  await receiver?.close();
  await new Promise((resolve) => (inventoryFront ? inventoryFront.close(resolve) : resolve(undefined)));
  platform = receiver = inventoryFront = undefined;
});

/** The three built services, each exporting its spans to a receiver of the test's own. */
async function traced(
  options: ConstructorParameters<typeof Platform>[0],
  start = true,
): Promise<{ platform: Platform; receiver: OtlpReceiver }> {
  receiver = await new OtlpReceiver().listen();
  platform = new Platform(options);
  for (const service of [platform.crm, platform.inventory, platform.middleware])
    Object.assign(service.env, receiver.env);
  if (start) await platform.start();
  return { platform, receiver };
}

let made = 0;
async function createCustomer(
  p: Platform,
  name = `Traced ${made + 1}`,
): Promise<Customer & { createdAt: string; traceparent?: string }> {
  made += 1;
  const response = await postJson(`${p.crm.url}/customers`, { name, email: `traced-${made}@example.com` });
  expect(response.status).toBe(201);
  return response.body as Customer & { createdAt: string; traceparent?: string };
}

const HTTP_SERVER = 2;

/** The spans of one trace, once the Inventory's part of it has come in (and what came with it). */
async function traceOf(r: OtlpReceiver, traceId: string): Promise<ReceivedSpan[]> {
  await waitFor('the Inventory’s span in the trace', async () =>
    r.spans.some((span) => span.traceId === traceId && span.service === 'inventory' && span.kind === HTTP_SERVER),
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  return r.spans.filter((span) => span.traceId === traceId);
}

const traceIdOf = (customer: { traceparent?: string }) => customer.traceparent!.split('-')[1]!;

/** A customer's journey once its outcome is in (steps are written a few milliseconds after they happen). */
async function journeyOf(
  p: Platform,
  customerId: number,
): Promise<{ traceId: string | null; traceUrl: string | null; steps: Array<Record<string, unknown>> }> {
  return waitFor('the journey’s outcome', async () => {
    const response = await fetch(`${p.middleware.url}/customers/${customerId}/journey`);
    const journey = response.ok
      ? ((await response.json()) as {
          traceId: string | null;
          traceUrl: string | null;
          steps: Array<Record<string, unknown>>;
        })
      : undefined;
    return journey?.steps.some((step) => step.kind === 'outcome') ? journey : undefined;
  });
}

describe('traces: the built services, exporting to an OTLP receiver', () => {
  test('webhook path: one customer’s spans in the CRM, the middleware and the Inventory share one trace', async () => {
    const { platform: p, receiver: r } = await traced({ webhookSecret: secret, pollIntervalMs: 60_000 });
    // The poller's first cycle (at start) over: the next is a minute away, so the webhook carries the customer.
    await waitFor('the first poll', async () => (await getJson(`${p.middleware.url}/status`)).lastSuccessAt !== null);
    const customer = await createCustomer(p);
    expect(customer.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    const spans = await traceOf(r, traceIdOf(customer));

    expect(new Set(spans.map((span) => span.service))).toEqual(new Set(['crm', 'middleware', 'inventory']));
    expect(spans).toContainEqual(
      expect.objectContaining({ service: 'crm', name: 'POST /customers', kind: HTTP_SERVER }),
    );
    expect(spans).toContainEqual(expect.objectContaining({ service: 'crm', name: 'send customer.created' }));
    expect(spans).toContainEqual(
      expect.objectContaining({ service: 'middleware', name: 'POST /webhooks/crm', kind: HTTP_SERVER }),
    );
    const processed = spans.find((span) => span.name === 'process customer.created')!;
    expect(processed).toMatchObject({
      service: 'middleware',
      attributes: { 'welcome.via': 'webhook', 'welcome.customer.id': customer.id },
    });
    expect(spans).toContainEqual(
      expect.objectContaining({ service: 'inventory', name: 'POST /packages', kind: HTTP_SERVER }),
    );
    // Every log line the middleware wrote inside the customer's span carries its ids.
    const line = p.middleware.logs.find(
      (entry) => entry.message === `Welcome package 1 created for customer ${customer.id}`,
    );
    expect(line).toMatchObject({ trace_id: traceIdOf(customer), span_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
    // Its journey tells the same story, with the same trace.
    const journey = await journeyOf(p, customer.id);
    expect(journey).toMatchObject({ customerId: customer.id, traceId: traceIdOf(customer) });
    expect(journey.steps.map((step) => step.kind)).toEqual(['created', 'found', 'asked', 'outcome']);
    expect(journey.steps).toEqual([
      { kind: 'created', at: customer.createdAt, traceId: traceIdOf(customer) },
      { kind: 'found', at: expect.any(String), via: 'webhook', traceId: traceIdOf(customer) },
      { kind: 'asked', at: expect.any(String), status: 201, traceId: traceIdOf(customer) },
      { kind: 'outcome', at: expect.any(String), outcome: 'created', packageId: 1, traceId: traceIdOf(customer) },
    ]);
  });

  test('poll path: the middleware continues the customer’s trace, linked to the poll that found it', async () => {
    const { platform: p, receiver: r } = await traced({ pollIntervalMs: 100 });
    const customer = await createCustomer(p);

    const spans = await traceOf(r, traceIdOf(customer));

    expect(new Set(spans.map((span) => span.service))).toEqual(new Set(['crm', 'middleware', 'inventory']));
    const processed = spans.find((span) => span.name === 'process customer.created')!;
    expect(processed.attributes['welcome.via']).toBe('poll');
    const poll = r.spans.find(
      (span) => span.name === 'poll CRM' && processed.links.some((link) => link.spanId === span.spanId),
    );
    expect(poll).toMatchObject({ service: 'middleware', attributes: { 'messaging.batch.message_count': 1 } });
    expect(poll!.traceId).not.toBe(processed.traceId);
  });

  test('a retry and a dead letter show as span events with their status codes', async () => {
    const { platform: p, receiver: r } = await traced({ pollIntervalMs: 100 }, false);
    await Promise.all([p.crm.start(), p.inventory.start()]);
    // In front of the Inventory: each customer's first package request is a 503; Mallory's are all 422.
    const seen = new Set<string>();
    inventoryFront = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const asked =
          req.method === 'POST' ? (JSON.parse(body) as { customerId: number; customerName: string }) : undefined;
        const refuse =
          asked?.customerName === 'Mallory' ? 422 : asked && !seen.has(String(asked.customerId)) ? 503 : undefined;
        if (asked) seen.add(String(asked.customerId));
        if (refuse)
          return void res
            .writeHead(refuse, { 'content-type': 'application/problem+json' })
            .end(JSON.stringify({ status: refuse }));
        const upstream = request(
          new URL(req.url!, p.inventory.url),
          { method: req.method, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode!, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => inventoryFront!.listen(0, '127.0.0.1', resolve));
    p.middleware.env.CRM_URL = p.crm.url;
    p.middleware.env.INVENTORY_URL = `http://127.0.0.1:${(inventoryFront.address() as AddressInfo).port}`;
    await p.middleware.start();

    const retried = await createCustomer(p, 'Rita');
    const refused = await createCustomer(p, 'Mallory');
    await waitFor(
      'the dead letter',
      async () => (await getJson(`${p.middleware.url}/status`)).deadLetters === 1,
      15_000,
    );

    const processOf = async (customer: { traceparent?: string }) => {
      await waitFor('its process span', async () =>
        r.spans.some((span) => span.traceId === traceIdOf(customer) && span.name === 'process customer.created'),
      );
      return r.spans.find((span) => span.traceId === traceIdOf(customer) && span.name === 'process customer.created')!;
    };
    expect((await processOf(retried)).events).toContainEqual({
      name: 'retry',
      attributes: expect.objectContaining({ 'http.response.status_code': 503, 'http.request.resend_count': 1 }),
    });
    const refusal = await processOf(refused);
    expect(refusal.events).toContainEqual({
      name: 'dead-lettered',
      attributes: { 'http.response.status_code': 422, 'welcome.customer.id': refused.id },
    });

    // Each attempt is a step of the journey, with its status.
    const stepsOf = async (customer: Customer) => (await journeyOf(p, customer.id)).steps;
    expect(
      (await stepsOf(retried))
        .filter((step) => step.kind !== 'created')
        .map(({ kind, status, outcome, via }) => ({ kind, status, outcome, via })),
    ).toEqual([
      { kind: 'found', via: 'poll', status: undefined, outcome: undefined },
      { kind: 'asked', status: 503, outcome: undefined, via: undefined },
      { kind: 'asked', status: 201, outcome: undefined, via: undefined },
      { kind: 'outcome', outcome: 'created', status: undefined, via: undefined },
    ]);
    expect((await stepsOf(refused)).at(-1)).toMatchObject({
      kind: 'outcome',
      outcome: 'deadLettered',
      status: 422,
      deadLetterId: 1,
    });
  });

  test('with no endpoint set, nothing is traced: no traceparent on customers, no trace ids in the log', async () => {
    platform = await new Platform({ pollIntervalMs: 100 }).start();
    const customer = await createCustomer(platform);
    expect(customer.traceparent).toBeUndefined();
    await waitFor('the package', async () => (await getJson(`${platform!.middleware.url}/status`)).created === 1);
    expect(platform.middleware.logs.some((line) => 'trace_id' in line)).toBe(false);
    // The journey is kept all the same, without a trace.
    const journey = await journeyOf(platform, customer.id);
    expect(journey).toMatchObject({ traceId: null, traceUrl: null });
    expect(journey.steps.map((step) => step.kind)).toEqual(['created', 'found', 'asked', 'outcome']);
  });
});
