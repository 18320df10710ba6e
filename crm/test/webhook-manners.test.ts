import { describe, expect, test } from '@jest/globals';
import { captureLogs } from '../../test/support/logs.js';
import { BACKENDS } from '../../test/support/databases.js';
import { sendJson, serveHandler, waitFor } from '../../test/support/servers.js';
import { newCustomer, postJson, running, startedCrm } from './support.js';

/** A subscriber that answers each request as `answer` says, recording when each came. */
async function scripted(answer: (n: number) => { status: number; headers?: Record<string, string> }) {
  const times: number[] = [];
  const server = await serveHandler((_req, res) => {
    times.push(performance.now());
    const { status, headers } = answer(times.length);
    sendJson(res, status, {}, headers);
  });
  running.push({ stop: server.close });
  return Object.assign(server, { times });
}

describe.each(BACKENDS)('the CRM dispatcher toward a struggling endpoint, on %s', (backend) => {
  test(
    'a 429 with Retry-After holds every message of the endpoint until then; ' +
      'the throttled attempt is not counted against the schedule',
    async () => {
      const endpoint = await scripted((n) =>
        n === 1 ? { status: 429, headers: { 'Retry-After': '2' } } : { status: 204 },
      );
      const { http } = await startedCrm(backend, { webhookRetryScheduleMs: [50] });
      await postJson(http, '/webhook-endpoints', { url: endpoint.url });
      await newCustomer(http, 'Alice');
      await waitFor('the first attempt', async () => endpoint.times.length === 1);
      const [held] = (await http.get('/webhook-endpoints/1/messages')).body as Array<Record<string, unknown>>;
      expect(held).toMatchObject({ status: 'pending', attempts: 0, lastStatus: 429 });
      expect((await http.get('/webhook-endpoints/1')).body.throttledUntil).toEqual(expect.any(String));
      // A customer made while the Retry-After runs waits for it too; a retry asked for now, as well.
      await newCustomer(http, 'Bob');
      expect((await http.post(`/webhook-endpoints/1/messages/${held!.id}/retry`)).status).toBe(202);
      await waitFor('both delivered', async () =>
        ((await http.get('/webhook-endpoints/1/messages')).body as Array<{ status: string }>).every(
          (message) => message.status === 'delivered',
        ),
      );
      // One schedule of 50 ms would have sent again at once: the Retry-After of 2 s held every request.
      expect(endpoint.times[1]! - endpoint.times[0]!).toBeGreaterThanOrEqual(1900);
      const messages = (await http.get('/webhook-endpoints/1/messages')).body as Array<{ attempts: number }>;
      expect(messages.map((message) => message.attempts)).toEqual([1, 1]);
    },
  );

  test(
    'an endpoint failing every attempt for WEBHOOK_DISABLE_AFTER is disabled with its reason, said once; ' +
      'enabled again, its kept messages are sent',
    async () => {
      let failing = true;
      const endpoint = await scripted(() => ({ status: failing ? 500 : 204 }));
      const { logger, lines } = captureLogs('crm');
      const { http } = await startedCrm(backend, {
        logger,
        webhookRetryScheduleMs: [50, 50, 50, 50, 50, 50, 50, 50],
        webhookDisableAfterMs: 200,
      });
      await postJson(http, '/webhook-endpoints', { url: endpoint.url });
      await newCustomer(http, 'Alice');
      await waitFor(
        'the endpoint disabled',
        async () => (await http.get('/webhook-endpoints/1')).body.enabled === false,
      );
      const disabled = (await http.get('/webhook-endpoints/1')).body;
      expect(disabled).toMatchObject({
        enabled: false,
        disabledAt: expect.any(String),
        disabledReason: expect.stringMatching(/^every attempt since .* failed/),
        failingSince: expect.any(String),
      });
      const sent = endpoint.times.length;
      await newCustomer(http, 'Bob');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(endpoint.times).toHaveLength(sent);
      const kept = (await http.get('/webhook-endpoints/1/messages')).body as Array<{ id: number; status: string }>;
      expect(kept.map((message) => message.status)).toEqual(['pending', 'pending']);
      expect((await http.post(`/webhook-endpoints/1/messages/${kept[1]!.id}/retry`)).status).toBe(409);
      expect(lines.filter((line) => /disabled/.test(String(line.message)))).toHaveLength(1);

      failing = false;
      const patch = (body: unknown) =>
        http.patch('/webhook-endpoints/1').set('Content-Type', 'application/json').send(JSON.stringify(body));
      expect((await patch({ enabled: 'yes' })).status).toBe(400);
      expect((await patch({ enabled: true, url: 'http://elsewhere' })).status).toBe(400);
      const enabled = await patch({ enabled: true });
      expect(enabled.status).toBe(200);
      expect(enabled.body).toMatchObject({ enabled: true, disabledAt: null, disabledReason: null, failingSince: null });
      await waitFor('the kept messages delivered', async () =>
        ((await http.get('/webhook-endpoints/1/messages')).body as Array<{ status: string }>).every(
          (message) => message.status === 'delivered',
        ),
      );
      expect(
        (await http.patch('/webhook-endpoints/99').set('Content-Type', 'application/json').send('{"enabled":true}'))
          .status,
      ).toBe(404);
    },
  );
});
