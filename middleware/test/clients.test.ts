import { afterEach, describe, expect, test } from '@jest/globals';
import { createSilentLogger } from '@welcome/common';
import { createCrmClient, nextLink } from '../src/clients/crm-client.js';
import { createInventoryClient } from '../src/clients/inventory-client.js';
import { UpstreamUnavailableError } from '../src/clients/upstream.js';
import { captureLogs } from '../../test/support/logs.js';
import { sendJson, serveHandler, type RunningServer } from '../../test/support/servers.js';

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** An Inventory that answers each call with the next scripted behaviour, counting calls. */
async function scriptedInventory(script: Array<(res: import('node:http').ServerResponse) => void>) {
  const calls: Array<{ at: number; body: string; method: string }> = [];
  const server = await serveHandler((req, res, body) => {
    calls.push({ at: Date.now(), body, method: req.method ?? '' });
    const step = script[Math.min(calls.length - 1, script.length - 1)]!;
    step(res);
  });
  servers.push(server);
  return { server, calls };
}

const created = (res: import('node:http').ServerResponse) =>
  sendJson(res, 201, { id: 11, customerId: 1, customerName: 'Alice' });
const status = (code: number) => (res: import('node:http').ServerResponse) => sendJson(res, code, { status: code });
const hang = () => undefined;
const reset = (res: import('node:http').ServerResponse) => res.socket?.destroy();

function inventoryClient(url: string, overrides: { timeoutMs?: number; retryDelayMs?: number } = {}) {
  const { logger, lines } = captureLogs('middleware');
  const client = createInventoryClient({
    baseUrl: url,
    timeoutMs: overrides.timeoutMs ?? 2000,
    retryDelayMs: overrides.retryDelayMs ?? 10,
    logger,
  });
  return { client, lines };
}

const alice = { customerId: 1, customerName: 'Alice' };

describe('the Inventory client: got with one retry', () => {
  test('a 201 is a created package, sent once as JSON by POST', async () => {
    const { server, calls } = await scriptedInventory([created]);
    await expect(inventoryClient(server.url).client.requestPackage(alice)).resolves.toEqual({
      kind: 'created',
      packageId: 11,
    });
    expect(calls).toEqual([{ at: expect.any(Number), method: 'POST', body: JSON.stringify(alice) }]);
  });

  test('a 200 is a package already there', async () => {
    const { server } = await scriptedInventory([(res) => sendJson(res, 200, { id: 11 })]);
    await expect(inventoryClient(server.url).client.requestPackage(alice)).resolves.toEqual({
      kind: 'alreadyThere',
      packageId: 11,
    });
  });

  test.each([
    ['a 500', status(500)],
    ['a 503', status(503)],
    ['a 429', status(429)],
    ['a 408', status(408)],
    ['a reset connection', reset],
  ])('after %s, POST is retried once and then succeeds', async (_, failure) => {
    const { server, calls } = await scriptedInventory([failure, created]);
    const { client, lines } = inventoryClient(server.url);
    await expect(client.requestPackage(alice)).resolves.toEqual({ kind: 'created', packageId: 11 });
    expect(calls).toHaveLength(2);
    expect(lines.filter((line) => line.level === 'warn' && /retrying once/.test(line.message))).toHaveLength(1);
  });

  test('a call that hangs past the timeout is retried once, then reported unavailable', async () => {
    const { server, calls } = await scriptedInventory([hang]);
    const { client } = inventoryClient(server.url, { timeoutMs: 200 });
    await expect(client.requestPackage(alice)).rejects.toThrow(UpstreamUnavailableError);
    expect(calls).toHaveLength(2);
  });

  test('a failure that persists is tried exactly twice, then reported unavailable', async () => {
    const { server, calls } = await scriptedInventory([status(503)]);
    const error = await inventoryClient(server.url)
      .client.requestPackage(alice)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as UpstreamUnavailableError).message).toBe('Inventory unavailable: answered 503');
    expect(calls).toHaveLength(2);
  });

  test('the retry waits the configured delay (one second in production)', async () => {
    const { server, calls } = await scriptedInventory([status(503), created]);
    await inventoryClient(server.url, { retryDelayMs: 1000 }).client.requestPackage(alice);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
  });

  test.each([400, 404, 409, 413, 422])('a %s is a permanent refusal: not retried, answer kept', async (code) => {
    const { server, calls } = await scriptedInventory([status(code)]);
    await expect(inventoryClient(server.url).client.requestPackage(alice)).resolves.toEqual({
      kind: 'refused',
      status: code,
      answer: { status: code },
    });
    expect(calls).toHaveLength(1);
  });

  test('nobody listening is unavailable, after one retry', async () => {
    const { server } = await scriptedInventory([created]);
    await server.close();
    await expect(inventoryClient(server.url).client.requestPackage(alice)).rejects.toThrow(
      /Inventory unavailable: ECONNREFUSED/,
    );
  });

  test('a 2xx without a package id is not taken as delivered', async () => {
    const { server } = await scriptedInventory([(res) => sendJson(res, 201, { ok: true })]);
    await expect(inventoryClient(server.url).client.requestPackage(alice)).rejects.toThrow(UpstreamUnavailableError);
  });
});

describe('the CRM client', () => {
  const crmClient = (url: string) =>
    createCrmClient({ baseUrl: url, timeoutMs: 1000, retryDelayMs: 10, logger: createSilentLogger() });

  test('follows Link: rel="next" page by page, asking with after and limit', async () => {
    const asked: string[] = [];
    const server = await serveHandler((req, res) => {
      asked.push(req.url ?? '');
      const after = Number(new URL(req.url ?? '', 'http://x').searchParams.get('after'));
      const page = [after + 1, after + 2].filter((id) => id <= 5).map((id) => ({ id, name: `C${id}` }));
      const link =
        page.length === 2 && after + 2 < 5
          ? { Link: `</customers?after=${after + 2}&limit=2>; rel="next"` }
          : undefined;
      sendJson(res, 200, page, link);
    });
    servers.push(server);
    const pages = [];
    for await (const page of crmClient(server.url).customersAfter(0, 2)) pages.push(page.records.map((r) => r.id));
    expect(pages).toEqual([[1, 2], [3, 4], [5]]);
    expect(asked).toEqual(['/customers?after=0&limit=2', '/customers?after=2&limit=2', '/customers?after=4&limit=2']);
  });

  test('a GET that fails is retried once', async () => {
    let calls = 0;
    const server = await serveHandler((_req, res) => (++calls === 1 ? sendJson(res, 502, {}) : sendJson(res, 200, [])));
    servers.push(server);
    for await (const page of crmClient(server.url).customersAfter(0)) expect(page.records).toEqual([]);
    expect(calls).toBe(2);
  });

  test('reads the next link among several, in any parameter order', () => {
    const base = 'http://crm:3001/customers?after=0&limit=2';
    expect(nextLink('</customers?after=2&limit=2>; rel="next"', base)?.href).toBe(
      'http://crm:3001/customers?after=2&limit=2',
    );
    expect(nextLink('</a>; rel="prev", </b>; title="x"; rel=next', base)?.href).toBe('http://crm:3001/b');
    expect(nextLink('</a>; rel="prev"', base)).toBeUndefined();
    expect(nextLink(undefined, base)).toBeUndefined();
    expect(nextLink('garbage <<', base)).toBeUndefined();
  });
});
