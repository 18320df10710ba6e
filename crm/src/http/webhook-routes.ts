import Router from '@koa/router';
import { jsonBody, parseBody, parseIdParam, parsePageRequest, sendPage, WEBHOOK_SECRET_PATTERN } from '@welcome/common';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import {
  createEndpoint,
  deleteEndpoint,
  getEndpoint,
  listEndpoints,
  MAX_BATCH_SIZE,
  MAX_URL_LENGTH,
  listMessages,
  retryMessage,
  setEndpointEnabled,
  withoutSecret,
  type WebhookDeps,
} from '../domain/webhooks.js';
import { BATCH_SIZE_DESCRIPTION } from '../domain/model.js';

/** `whsec_` and base64 of 24 to 64 bytes, the form the standardwebhooks package signs with. */
const secret = z
  .string({ error: 'must be a string' })
  .regex(WEBHOOK_SECRET_PATTERN, 'must be whsec_ followed by base64')
  .refine((value) => {
    const bytes = Buffer.from(value.slice('whsec_'.length), 'base64').length;
    return bytes >= 24 && bytes <= 64;
  }, 'must hold 24 to 64 bytes')
  .refine((value) => {
    try {
      // The constructor decodes the key, and throws for one it cannot sign with.
      new Webhook(value);
      return true;
    } catch {
      return false;
    }
  }, 'is not a key the standardwebhooks package can sign with');

/** `POST /webhook-endpoints`: validates the body, and is the OpenAPI document's NewWebhookEndpoint. */
export const newEndpointBody = z.strictObject({
  // The url's own rules (urlProblem) are checked by the domain, which says which one failed.
  url: z
    .string({ error: 'must be a string' })
    .trim()
    .meta({
      format: 'uri',
      maxLength: MAX_URL_LENGTH,
      description: 'An absolute http:// or https:// URL.',
      examples: ['http://localhost:3003/webhooks/crm'],
    }),
  secret: secret
    .optional()
    .meta({ description: '`whsec_` and base64 of 24 to 64 bytes; made for you when not given.' }),
  batchSize: z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be 1 or more')
    .max(MAX_BATCH_SIZE, `must be at most ${MAX_BATCH_SIZE}`)
    .optional()
    .meta({ description: BATCH_SIZE_DESCRIPTION, default: 1 }),
});

/** `PATCH /webhook-endpoints/{id}`: validates the body, and is the OpenAPI document's WebhookEndpointChange. */
export const endpointChangeBody = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }).meta({
    description:
      'true enables a disabled endpoint: every message kept for it (pending or failed) is sent again, ' +
      'each on a fresh schedule. false disables it: nothing is sent to it, its messages are kept.',
  }),
});

/** The webhook-endpoint routes, on the CRM's router. */
export function addWebhookRoutes(router: Router, deps: WebhookDeps): void {
  router.post('/webhook-endpoints', jsonBody(), async (ctx) => {
    const endpoint = await createEndpoint(deps, parseBody(newEndpointBody, ctx.request.body));
    ctx.status = 201;
    ctx.set('Location', `/webhook-endpoints/${endpoint.id}`);
    ctx.body = endpoint;
  });

  router.get('/webhook-endpoints', async (ctx) => {
    const page = parsePageRequest(ctx);
    sendPage(ctx, await listEndpoints(deps, page.after, page.limit + 1), page);
  });

  router.get('/webhook-endpoints/:id', async (ctx) => {
    ctx.body = withoutSecret(await getEndpoint(deps, parseIdParam(ctx.params.id)));
  });

  router.patch('/webhook-endpoints/:id', jsonBody(), async (ctx) => {
    const { enabled } = parseBody(endpointChangeBody, ctx.request.body);
    ctx.body = withoutSecret(await setEndpointEnabled(deps, parseIdParam(ctx.params.id), enabled));
  });

  router.delete('/webhook-endpoints/:id', async (ctx) => {
    await deleteEndpoint(deps, parseIdParam(ctx.params.id));
    ctx.status = 204;
  });

  router.get('/webhook-endpoints/:id/messages', async (ctx) => {
    const page = parsePageRequest(ctx);
    sendPage(ctx, await listMessages(deps, parseIdParam(ctx.params.id), page.after, page.limit + 1), page);
  });

  router.post('/webhook-endpoints/:id/messages/:msgId/retry', async (ctx) => {
    const message = await retryMessage(deps, parseIdParam(ctx.params.id), parseIdParam(ctx.params.msgId, 'msgId'));
    ctx.status = 202;
    ctx.body = message;
  });
}
