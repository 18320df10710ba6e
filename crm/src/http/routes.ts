import Router from '@koa/router';
import { parseBody, parseIdParam, parsePageRequest, personName, sendPage } from '@welcome/common';
import { z } from 'zod';
import { getCustomer, listCustomers, registerCustomer, type CustomerDeps } from '../domain/customers.js';

const newCustomerBody = z.strictObject({
  name: personName,
  email: z
    .string({ error: 'must be a string' })
    .trim()
    .max(254, 'must be at most 254 characters')
    .pipe(z.email({ error: 'must be a valid email address' })),
});

export function createCustomerRouter(deps: CustomerDeps): Router {
  const router = new Router();

  router.post('/customers', (ctx) => {
    const input = parseBody(newCustomerBody, ctx.request.body);
    const customer = registerCustomer(deps, input);
    ctx.status = 201;
    ctx.set('Location', `/customers/${customer.id}`);
    ctx.body = customer;
  });

  router.get('/customers', (ctx) => {
    const page = parsePageRequest(ctx);
    sendPage(ctx, listCustomers(deps, page.after, page.limit + 1), page);
  });

  router.get('/customers/:id', (ctx) => {
    ctx.body = getCustomer(deps, parseIdParam(ctx.params.id));
  });

  return router;
}
