import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, test } from '@jest/globals';
import { MAX_PAGES_PER_CYCLE, syncNewCustomers } from '../src/domain/sync.js';
import { captureLogs } from '../../test/support/logs.js';
import { sendJson, serveHandler } from '../../test/support/servers.js';
import { closedAfterEach, listPackages, middlewareDeps } from './support.js';

const { upstreams, server } = closedAfterEach();

/** A CRM that serves what the test says, with the requests it got. */
async function fakeCrm(serve: (req: IncomingMessage, res: ServerResponse, url: URL) => void) {
  const asked: string[] = [];
  const crm = await server(
    serveHandler((req, res) => {
      asked.push(req.url ?? '');
      serve(req, res, new URL(req.url ?? '/', 'http://crm'));
    }),
  );
  const both = await upstreams();
  const { logger, lines } = captureLogs();
  const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: both.inventory.url, logger });
  return { deps, lines, asked, inventoryUrl: both.inventory.url };
}

const delivered = async (inventoryUrl: string) =>
  (await listPackages(inventoryUrl)).map((p) => [p.customerId, p.customerName]);

describe('the middleware does not trust what the CRM sends', () => {
  test('a page that is not JSON fails the cycle clearly, moves nothing, and crashes nothing', async () => {
    const { deps, lines } = await fakeCrm((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<html><body>Service temporarily unavailable</body></html>');
    });
    const report = await syncNewCustomers(deps.polling);
    expect(report.failure).toBe('CRM unavailable: it answered with something that is not JSON');
    expect(await deps.stores.status.read()).toMatchObject({ cursor: 0, failedCycles: 1, deadLetters: 0 });
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'error', upstream: 'CRM', message: expect.stringContaining('not JSON') }),
    );
  });

  test('a page that is JSON but not a list fails the cycle the same way', async () => {
    const { deps } = await fakeCrm((_req, res) => sendJson(res, 200, { customers: [{ id: 1, name: 'Alice' }] }));
    expect((await syncNewCustomers(deps.polling)).failure).toBe(
      'CRM unavailable: the customer list is not a JSON array',
    );
    expect(await deps.stores.deliveries.cursor()).toBe(0);
  });

  test.each([
    ['no name', { id: 2 }],
    ['an empty name', { id: 2, name: '  ' }],
    ['a name that is a number', { id: 2, name: 42 }],
  ])('a customer with %s is dead-lettered with the reason, and the others still get theirs', async (_, bad) => {
    const { deps, inventoryUrl } = await fakeCrm((_req, res) =>
      sendJson(res, 200, [{ id: 1, name: 'Alice' }, bad, { id: 3, name: 'Carol' }]),
    );
    expect(await syncNewCustomers(deps.polling)).toMatchObject({ created: 2, deadLettered: 1 });
    expect(await delivered(inventoryUrl)).toEqual([
      [1, 'Alice'],
      [3, 'Carol'],
    ]);
    expect(await deps.stores.deadLetters.list(0, 10)).toEqual([
      expect.objectContaining({
        customerId: 2,
        customer: bad,
        status: null,
        reason: expect.stringMatching(/^The CRM record is unusable: its name/),
      }),
    ]);
    expect(await deps.stores.deliveries.cursor()).toBe(3);
  });

  test.each([
    ['a string', '2'],
    ['a fraction', 2.5],
    ['negative', -2],
    ['missing', undefined],
    ['beyond the safe integers', 2 ** 53 + 2],
  ])('a record whose id is %s is dead-lettered without a customer id and moves no cursor', async (_, id) => {
    const bad = { id, name: 'Mallory' };
    const { deps, inventoryUrl } = await fakeCrm((_req, res) => sendJson(res, 200, [{ id: 1, name: 'Alice' }, bad]));
    expect(await syncNewCustomers(deps.polling)).toMatchObject({ created: 1 });
    expect(await delivered(inventoryUrl)).toEqual([[1, 'Alice']]);
    expect(await deps.stores.deadLetters.list(0, 10)).toEqual([
      expect.objectContaining({
        customerId: null,
        status: null,
        reason: expect.stringMatching(/its id .* not a positive whole number/),
      }),
    ]);
    expect(await deps.stores.deliveries.cursor()).toBe(1);
  });

  test('the same garbage sent every cycle stays one dead letter, logged once', async () => {
    const { deps, lines } = await fakeCrm((_req, res) => sendJson(res, 200, [{ id: 'x', name: 'Mallory' }]));
    await syncNewCustomers(deps.polling);
    await syncNewCustomers(deps.polling);
    expect(await deps.stores.deadLetters.list(0, 10)).toEqual([expect.objectContaining({ attempts: 2 })]);
    expect(lines.filter((line) => line.level === 'warn' && /unusable/.test(line.message))).toHaveLength(1);
  });

  test(
    'ids out of order across pages are delivered in id order: ' +
      'the cursor never jumps past a customer still to come',
    async () => {
      const pages: Record<string, { body: unknown; link?: string }> = {
        '0': {
          body: [
            { id: 1, name: 'A' },
            { id: 2, name: 'B' },
            { id: 5, name: 'E' },
          ],
          link: '</customers?after=5&limit=100>; rel="next"',
        },
        '5': {
          body: [
            { id: 4, name: 'D' },
            { id: 3, name: 'C' },
            { id: 6, name: 'F' },
          ],
        },
      };
      const { deps, inventoryUrl, lines } = await fakeCrm((_req, res, url) => {
        const page = pages[url.searchParams.get('after') ?? ''] ?? { body: [] };
        sendJson(res, 200, page.body, page.link ? { Link: page.link } : {});
      });
      expect(await syncNewCustomers(deps.polling)).toMatchObject({ created: 6 });
      expect((await delivered(inventoryUrl)).map(([id]) => id)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(await deps.stores.deliveries.cursor()).toBe(6);
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 'warn', message: expect.stringMatching(/out of id order/) }),
      );
    },
  );

  test('a Link that loops back is not followed round and round', async () => {
    const { deps, asked, inventoryUrl, lines } = await fakeCrm((_req, res, url) => {
      const after = url.searchParams.get('after');
      if (after === '0')
        sendJson(res, 200, [{ id: 1, name: 'A' }], { Link: '</customers?after=1&limit=100>; rel="next"' });
      else sendJson(res, 200, [{ id: 2, name: 'B' }], { Link: '</customers?after=0&limit=100>; rel="next"' });
    });
    expect(await syncNewCustomers(deps.polling)).toMatchObject({ created: 2 });
    expect(asked).toEqual(['/customers?after=0&limit=100', '/customers?after=1&limit=100']);
    expect(await delivered(inventoryUrl)).toEqual([
      [1, 'A'],
      [2, 'B'],
    ]);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'warn', message: expect.stringMatching(/linked back/) }),
    );
  });

  test('a Link that never ends is cut off after a bounded number of pages, and the next cycle carries on', async () => {
    const { deps, asked } = await fakeCrm((_req, res, url) => {
      const after = Number(url.searchParams.get('after'));
      sendJson(res, 200, [{ id: after + 1, name: `C${after + 1}` }], {
        Link: `</customers?after=${after + 1}&limit=100>; rel="next"`,
      });
    });
    const report = await syncNewCustomers(deps.polling);
    expect(MAX_PAGES_PER_CYCLE).toBe(50);
    expect(report).toMatchObject({ created: MAX_PAGES_PER_CYCLE, more: true });
    expect(asked).toHaveLength(MAX_PAGES_PER_CYCLE);
    expect(await deps.stores.deliveries.cursor()).toBe(MAX_PAGES_PER_CYCLE);
  });

  test('a Link to another origin is not followed', async () => {
    const { deps, asked } = await fakeCrm((_req, res) =>
      sendJson(res, 200, [{ id: 1, name: 'A' }], { Link: '<http://elsewhere.invalid/customers?after=1>; rel="next"' }),
    );
    expect(await syncNewCustomers(deps.polling)).toMatchObject({ created: 1 });
    expect(asked).toHaveLength(1);
  });

  test('a customer sent twice in one walk gets one request and one package', async () => {
    const { deps, inventoryUrl } = await fakeCrm((_req, res) =>
      sendJson(res, 200, [
        { id: 1, name: 'A' },
        { id: 1, name: 'A' },
      ]),
    );
    expect(await syncNewCustomers(deps.polling)).toMatchObject({ found: 1, created: 1, alreadyThere: 0 });
    expect(await delivered(inventoryUrl)).toEqual([[1, 'A']]);
  });
});
