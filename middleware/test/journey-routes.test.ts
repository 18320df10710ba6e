import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createApp } from '../src/app.js';
import type { JourneyStep } from '../src/domain/model/journey.js';
import { BACKENDS } from '../../test/support/databases.js';
import { ContractChecker } from '../../test/e2e/contract.js';
import { middlewareDeps } from './support.js';

const t = (seconds: number) => new Date(Date.UTC(2026, 0, 2, 3, 4, 5) + seconds * 1000).toISOString();
const traceA = '4bf92f3577b34da6a3ce929d0e0e4736';

describe.each(BACKENDS)('GET /customers/:id/journey on %s', (backend) => {
  const step = (at: string): JourneyStep => ({ kind: 'found', at, via: 'webhook' });
  const unused = { crmUrl: 'http://127.0.0.1:9', inventoryUrl: 'http://127.0.0.1:9' };

  test('answers the steps, the latest trace id and its link in the trace viewer', async () => {
    const deps = await middlewareDeps({ backend, ...unused, traceUiUrl: 'http://localhost:16686/trace/{traceId}' });
    deps.journal.record(4711, { kind: 'created', at: t(0) });
    deps.journal.record(4711, step(t(1)), traceA);
    deps.journal.record(4711, { kind: 'asked', at: t(2), status: 503 }, traceA);
    deps.journal.record(
      4711,
      { kind: 'outcome', at: t(2), outcome: 'deadLettered', deadLetterId: 1, status: 422 },
      traceA,
    );
    await deps.journal.flush();

    const response = await request(createApp(deps).callback()).get('/customers/4711/journey');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      customerId: 4711,
      traceId: traceA,
      traceUrl: `http://localhost:16686/trace/${traceA}`,
      steps: [
        { kind: 'created', at: t(0), traceId: null },
        { kind: 'found', at: t(1), via: 'webhook', traceId: traceA },
        { kind: 'asked', at: t(2), status: 503, traceId: traceA },
        { kind: 'outcome', at: t(2), outcome: 'deadLettered', deadLetterId: 1, status: 422, traceId: traceA },
      ],
    });
  });

  test('without TRACE_UI_URL, or without a trace, the link is null', async () => {
    const deps = await middlewareDeps({ backend, ...unused });
    deps.journal.record(1, step(t(1)), traceA);
    deps.journal.record(2, step(t(1)));
    await deps.journal.flush();
    const http = request(createApp(deps).callback());
    expect((await http.get('/customers/1/journey')).body).toMatchObject({ traceId: traceA, traceUrl: null });
    const traced = request(
      createApp({
        ...deps,
        journeyViews: { ...deps.journeyViews, traceUiUrl: 'https://traces.example/{traceId}' },
      }).callback(),
    );
    expect((await traced.get('/customers/2/journey')).body).toMatchObject({ traceId: null, traceUrl: null });
  });

  test('a customer never seen is a 404 problem; an id that is not a positive whole number, a 400', async () => {
    const http = request(createApp(await middlewareDeps({ backend, ...unused })).callback());
    const missing = await http.get('/customers/4711/journey');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.body.detail).toMatch(/Customer 4711 has no journey/);
    for (const id of ['0', 'abc', '1.5', '9007199254740992']) {
      const bad = await http.get(`/customers/${id}/journey`);
      expect([id, bad.status, bad.body.errors]).toEqual([
        id,
        400,
        [{ field: 'id', message: 'must be a positive whole number' }],
      ]);
    }
  });

  test(
    'GET /journeys?customerId= answers a list: the journey, ' + 'or none for a customer never seen (200 either way)',
    async () => {
      const deps = await middlewareDeps({ backend, ...unused });
      deps.journal.record(5, step(t(1)), traceA);
      await deps.journal.flush();
      const http = request(createApp(deps).callback());
      expect((await http.get('/journeys?customerId=5')).body).toEqual([
        {
          customerId: 5,
          traceId: traceA,
          traceUrl: null,
          steps: [{ kind: 'found', at: t(1), via: 'webhook', traceId: traceA }],
        },
      ]);
      const none = await http.get('/journeys?customerId=6');
      expect([none.status, none.body]).toEqual([200, []]);
      for (const query of ['', '?customerId=x', '?customerId=1&customerId=2']) {
        const bad = await http.get(`/journeys${query}`);
        expect([query, bad.status, bad.body.errors]).toEqual([
          query,
          400,
          [{ field: 'customerId', message: 'must be a positive whole number' }],
        ]);
      }
    },
  );

  test('every answer matches the OpenAPI document: each kind of step, the link, the 404 and the 400s', async () => {
    const deps = await middlewareDeps({ backend, ...unused, traceUiUrl: 'https://traces.example/trace?id={traceId}' });
    deps.journal.record(1, { kind: 'created', at: t(0) });
    for (const via of ['webhook', 'longPoll', 'poll', 'reconciliation', 'replay'] as const)
      deps.journal.record(1, { kind: 'found', at: t(1), via }, traceA);
    deps.journal.record(1, { kind: 'asked', at: t(2), status: null, error: 'socket hang up' }, traceA);
    deps.journal.record(1, { kind: 'asked', at: t(3), status: 409 }, traceA);
    deps.journal.record(
      1,
      { kind: 'outcome', at: t(3), outcome: 'deadLettered', deadLetterId: 4, status: 409 },
      traceA,
    );
    for (const outcome of ['created', 'alreadyThere', 'replayed', 'repaired'] as const)
      deps.journal.record(1, { kind: 'outcome', at: t(4), outcome, packageId: 9 });
    await deps.journal.flush();
    const http = request(createApp(deps).callback());
    const checker = new ContractChecker((await http.get('/openapi.json')).body);
    for (const path of [
      '/customers/1/journey',
      '/customers/2/journey',
      '/customers/x/journey',
      '/journeys?customerId=1',
      '/journeys?customerId=2',
      '/journeys',
    ]) {
      const response = await http.get(path);
      const observed = {
        method: 'GET',
        path,
        status: response.status,
        contentType: response.headers['content-type'] ?? '',
        body: response.body,
        headers: response.headers as Record<string, string>,
      };
      expect(checker.check(observed)).toEqual([]);
    }
    expect((await http.get('/customers/1/journey')).body.steps).toHaveLength(13);
    expect(checker.uncovered()).toEqual(expect.not.arrayContaining(['GET /customers/{id}/journey', 'GET /journeys']));
  });
});
