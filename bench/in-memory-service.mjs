// A stand-in for the original exercise's CRM and Inventory, for make bench only: a bare Koa service
// that validates the same bodies as ours and pushes them onto an array, nothing kept on disk.
//   node bench/in-memory-service.mjs   (prints the port it listens on)
import Koa from 'koa';
import Router from '@koa/router';
import bodyParser from 'koa-bodyparser';
import { z } from 'zod';

// The services' name rule (packages/common/src/validation.ts): trimmed, 1 to 200 code points.
const personName = z
  .string()
  .trim()
  .refine((value) => value.length > 0 && [...value].length <= 200);
const customerBody = z.strictObject({ name: personName, email: z.string().trim().max(254).pipe(z.email()) });
const packageBody = z.strictObject({ customerId: z.number().int().positive(), customerName: personName });

const customers = [];
const packages = [];
const router = new Router();
const add = (schema, list) => (ctx) => {
  const parsed = schema.safeParse(ctx.request.body);
  if (!parsed.success) {
    ctx.status = 400;
    ctx.body = { errors: parsed.error.issues };
    return;
  }
  const item = { id: list.length + 1, ...parsed.data, createdAt: new Date().toISOString() };
  list.push(item);
  ctx.status = 201;
  ctx.body = item;
};
router.post('/customers', add(customerBody, customers));
router.post('/packages', add(packageBody, packages));

const app = new Koa();
app.use(bodyParser());
app.use(router.routes());
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
