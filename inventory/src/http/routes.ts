import Router from '@koa/router';
import { jsonBody, parseBody, parseIdParam, parsePageRequest, personName, sendPage } from '@welcome/common';
import { z } from 'zod';
import {
  getPackage,
  listPackages,
  PACKAGE_ORDERS,
  requestWelcomePackage,
  type PackageDeps,
} from '../domain/packages.js';

/** `POST /packages`: validates the body, and is the OpenAPI document's PackageRequest. */
export const packageRequestBody = z.strictObject({
  customerId: z
    .number({ error: 'must be a number' })
    // zod's int() also refuses what is beyond Number.MAX_SAFE_INTEGER.
    .int('must be a whole number')
    .min(1, 'must be positive')
    .meta({ examples: [1] }),
  customerName: personName,
});

export function createPackageRouter(deps: PackageDeps): Router {
  const router = new Router();

  router.post('/packages', jsonBody(), async (ctx) => {
    const request = parseBody(packageRequestBody, ctx.request.body);
    const { created, pkg } = await requestWelcomePackage(deps, request);
    ctx.status = created ? 201 : 200;
    if (created) ctx.set('Location', `/packages/${pkg.id}`);
    ctx.body = pkg;
  });

  router.get('/packages', async (ctx) => {
    const page = parsePageRequest(ctx, ['customerId'], PACKAGE_ORDERS);
    const rows = await listPackages(deps, page.orderBy, page.after, page.limit + 1, page.filters.customerId);
    sendPage(ctx, rows, page, (pkg) => pkg[page.orderBy]);
  });

  router.get('/packages/:id', async (ctx) => {
    ctx.body = await getPackage(deps, parseIdParam(ctx.params.id));
  });

  return router;
}
