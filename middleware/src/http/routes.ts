import Router from '@koa/router';
import getRawBody from 'raw-body';
import { jsonBody, MAX_BODY, parseBody, parseIdParam, parsePageRequest, sendPage } from '@welcome/common';
import { z } from 'zod';
import { handleCrmRequest, verifyCrmRequest, type WebhookHandling } from '../domain/crm-webhook.js';
import { listDeadLetters, replayAllDeadLetters, replayDeadLetter, type Replaying } from '../domain/dead-letters.js';
import { pauseDelivery, resumeDelivery, type DeliveryControl } from '../domain/flow/control.js';
import { describeJourney, findJourneys, type JourneyViews } from '../domain/journey.js';
import type { Reconciler } from '../domain/reconciliation/reconciler.js';
import {
  getReconciliation,
  latestReconciliation,
  listReconciliations,
  reconciliationPath,
  startReconciliation,
  type ReconciliationViews,
} from '../domain/reconciliation/views.js';
import { syncStatus, type StatusReading } from '../domain/status.js';
import { statusPage } from './status-page.js';

/** The route whose body is read as bytes, for its signature. */
export const CRM_WEBHOOK_PATH = '/webhooks/crm';

const customerIdField = z
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be positive');

/** `POST /reconciliations`: validates the body, and is the OpenAPI document's NewReconciliation. */
export const reconcileBody = z
  .strictObject({
    fromId: customerIdField
      .optional()
      .meta({ default: 1, description: 'The first customer id to check; at most the cursor.' }),
    toId: customerIdField.optional().meta({
      description:
        'The last customer id to check: the cursor by default, ' +
        'and never beyond it (customers after it are not handled yet).',
    }),
    repair: z.boolean({ error: 'must be true or false' }).optional().meta({
      default: true,
      description: 'Deliver the missing customers again (mismatches and orphans are only reported).',
    }),
  })
  .refine((body) => body.fromId === undefined || body.toId === undefined || body.fromId <= body.toId, {
    message: 'must not be below fromId',
    path: ['toId'],
  })
  .meta({
    description:
      'Every field may be left out; an empty body (or none) checks every customer up to the cursor and repairs.',
  });

/** What the routes call into: each domain entry point's own parts. */
export interface RouteParts {
  webhooks: (WebhookHandling & { secret: string }) | undefined;
  statusReading: StatusReading;
  replaying: Replaying;
  reconciler: Reconciler;
  reconciliations: ReconciliationViews;
  journeyViews: JourneyViews;
  deliveryControl: DeliveryControl;
}

/** `POST /delivery/pause`: validates the body, and is the OpenAPI document's PauseRequest. */
export const pauseBody = z
  .strictObject({
    reason: z
      .string({ error: 'must be a string' })
      .trim()
      .min(1, 'must not be empty')
      .max(200, 'must be at most 200 characters')
      .optional()
      .meta({ description: 'Why, for whoever looks at /status or the status page.' }),
    until: z.iso
      .datetime({ offset: true, error: 'must be a date and time (ISO 8601, e.g. 2026-12-03T22:00:00Z)' })
      .optional()
      .meta({ description: 'When delivery resumes by itself; without it, it stays paused until resumed.' }),
  })
  .meta({ description: 'Every field may be left out; an empty body (or none) pauses until resumed.' });

export function createMiddlewareRouter(parts: RouteParts): Router {
  const router = new Router();
  const { webhooks, statusReading, replaying, reconciler, reconciliations, journeyViews, deliveryControl } = parts;
  const { deadLetters } = replaying;

  if (webhooks !== undefined) {
    router.post(CRM_WEBHOOK_PATH, async (ctx) => {
      const body = await getRawBody(ctx.req, { limit: MAX_BODY });
      const answer = await handleCrmRequest(webhooks, verifyCrmRequest(webhooks.secret, ctx.headers, body));
      ctx.status = answer.status;
      ctx.body = answer.body;
    });
  }

  router.get('/', (ctx) => {
    ctx.type = 'text/html';
    ctx.body = statusPage.html;
  });
  router.get('/assets/status-page.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.body = statusPage.css;
  });
  router.get('/assets/status-page.js', (ctx) => {
    ctx.type = 'application/javascript';
    ctx.body = statusPage.script;
  });

  router.get('/status', async (ctx) => {
    ctx.body = await syncStatus(statusReading);
  });

  const by = (state: { apiKeyName?: unknown }) => (typeof state.apiKeyName === 'string' ? state.apiKeyName : null);
  router.get('/delivery', async (ctx) => {
    ctx.body = await deliveryControl.flow.read();
  });
  router.post('/delivery/pause', jsonBody(), async (ctx) => {
    ctx.body = await pauseDelivery(deliveryControl, parseBody(pauseBody, ctx.request.body ?? {}), by(ctx.state));
  });
  router.post('/delivery/resume', async (ctx) => {
    ctx.body = await resumeDelivery(deliveryControl, by(ctx.state));
  });

  router.get('/dead-letters', async (ctx) => {
    const page = parsePageRequest(ctx);
    sendPage(ctx, await listDeadLetters(deadLetters, page.after, page.limit + 1), page);
  });

  router.post('/dead-letters/replay', async (ctx) => {
    ctx.body = await replayAllDeadLetters(replaying);
  });

  router.post('/dead-letters/:id/replay', async (ctx) => {
    ctx.body = await replayDeadLetter(replaying, parseIdParam(ctx.params.id));
  });

  router.post('/reconciliations', jsonBody(), async (ctx) => {
    const run = await startReconciliation(reconciler, parseBody(reconcileBody, ctx.request.body ?? {}));
    ctx.status = 202;
    ctx.set('Location', reconciliationPath(run.id));
    ctx.body = run;
  });

  router.get('/reconciliations', async (ctx) => {
    const page = parsePageRequest(ctx);
    sendPage(ctx, await listReconciliations(reconciliations, page.after, page.limit + 1), page);
  });

  router.get('/reconciliations/latest', async (ctx) => {
    ctx.body = await latestReconciliation(reconciliations);
  });

  router.get('/reconciliations/:id', async (ctx) => {
    ctx.body = await getReconciliation(reconciliations, parseIdParam(ctx.params.id));
  });

  router.get('/customers/:id/journey', async (ctx) => {
    ctx.body = await describeJourney(journeyViews, parseIdParam(ctx.params.id));
  });

  router.get('/journeys', async (ctx) => {
    const customerId = ctx.query.customerId;
    ctx.body = await findJourneys(
      journeyViews,
      parseIdParam(typeof customerId === 'string' ? customerId : undefined, 'customerId'),
    );
  });

  return router;
}
