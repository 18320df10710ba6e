import Router from '@koa/router';
import { jsonBody, parseBody, parseIdParam, parsePageRequest, personName, sendPage } from '@welcome/common';
import { z } from 'zod';
import { getCustomer, listCustomers, registerCustomer, type CustomerDeps } from '../domain/customers.js';

/** `POST /customers`: validates the body, and is the OpenAPI document's NewCustomer. */
export const newCustomerBody = z.strictObject({
  name: personName,
  email: z
    .string({ error: 'must be a string' })
    .trim()
    .max(254, 'must be at most 254 characters')
    .pipe(z.email({ error: 'must be a valid email address' }))
    .meta({
      format: 'email',
      description:
        'Leading and trailing whitespace is trimmed before it is checked and stored; ' +
        'unique without regard to case.',
      examples: ['alice@example.com'],
    }),
});

/** The longest a long poll (`?wait=`) is held, in seconds. */
export const MAX_WAIT_S = 30;

/** The customer routes, on the CRM's router. */
export function addCustomerRoutes(router: Router, deps: CustomerDeps): void {
  router.post('/customers', jsonBody(), async (ctx) => {
    const input = parseBody(newCustomerBody, ctx.request.body);
    const customer = await registerCustomer(deps, input);
    ctx.status = 201;
    ctx.set('Location', `/customers/${customer.id}`);
    ctx.body = customer;
  });

  router.get('/customers', async (ctx) => {
    const page = parsePageRequest(ctx, [{ name: 'wait', min: 0, max: MAX_WAIT_S }]);
    // A held request ends early when its client goes away.
    const gone = new AbortController();
    ctx.req.once('close', () => gone.abort());
    const waitMs = (page.filters.wait ?? 0) * 1000;
    sendPage(ctx, await listCustomers(deps, page.after, page.limit + 1, waitMs, gone.signal), page);
  });

  router.get('/customers/:id', async (ctx) => {
    ctx.body = await getCustomer(deps, parseIdParam(ctx.params.id));
  });
}
