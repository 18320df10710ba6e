import type { Context } from 'koa';
import { validationFailed, type FieldError } from './errors.js';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export interface PageRequest {
  /** Only rows whose key (the id, unless the list is ordered by another) is above this; 0 for the first page. */
  after: number;
  limit: number;
}

function readWholeNumber(
  query: Context['query'],
  name: string,
  fallback: number,
  min: number,
  max: number,
  errors: FieldError[],
): number {
  const raw = query[name];
  if (raw === undefined) return fallback;
  if (Array.isArray(raw)) {
    errors.push({ field: name, message: 'must be given once' });
    return fallback;
  }
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    errors.push({ field: name, message: `must be a whole number from ${min} to ${max}` });
    return fallback;
  }
  return value;
}

function readChoice<T extends string>(
  query: Context['query'],
  name: string,
  choices: readonly [T, ...T[]],
  errors: FieldError[],
): T {
  const raw = query[name];
  if (raw === undefined) return choices[0];
  if (Array.isArray(raw)) {
    errors.push({ field: name, message: 'must be given once' });
    return choices[0];
  }
  const choice = choices.find((known) => known === raw);
  if (choice === undefined) {
    errors.push({ field: name, message: `must be one of ${choices.join(', ')}` });
    return choices[0];
  }
  return choice;
}

/** A whole-number query parameter besides `after` and `limit`: a positive id filter, unless bounds are given. */
export type QueryNumber = string | { name: string; min: number; max: number };

type Filters = Record<string, number | undefined>;

/** Reads `?after=&limit=` (and any other whole-number parameters), or throws one 400 naming each bad one. */
export function parsePageRequest(ctx: Context, filters?: QueryNumber[]): PageRequest & { filters: Filters };
/**
 * Also reads `?orderBy=` as one of `orders`, the keys the list can be ordered by, the first being
 * the default; `after` is then a value of that key.
 */
export function parsePageRequest<Order extends string>(
  ctx: Context,
  filters: QueryNumber[],
  orders: readonly [Order, ...Order[]],
): PageRequest & { filters: Filters; orderBy: Order };
export function parsePageRequest(
  ctx: Context,
  filters: QueryNumber[] = [],
  orders?: readonly [string, ...string[]],
): PageRequest & { filters: Filters; orderBy?: string } {
  const errors: FieldError[] = [];
  const after = readWholeNumber(ctx.query, 'after', 0, 0, Number.MAX_SAFE_INTEGER, errors);
  const limit = readWholeNumber(ctx.query, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT, errors);
  const values: Filters = {};
  for (const filter of filters) {
    const { name, min, max } =
      typeof filter === 'string' ? { name: filter, min: 1, max: Number.MAX_SAFE_INTEGER } : filter;
    const value = readWholeNumber(ctx.query, name, 0, min, max, errors);
    values[name] = ctx.query[name] === undefined ? undefined : value;
  }
  // A list with one order leaves `orderBy` alone, as it leaves any parameter it does not take.
  const orderBy = orders && readChoice(ctx.query, 'orderBy', orders, errors);
  if (errors.length > 0) throw validationFailed(errors);
  return { after, limit, filters: values, orderBy };
}

/**
 * Answers one keyset page. `rows` holds up to limit + 1 rows: the extra one only tells that more
 * follow, and then a `Link: rel="next"` (RFC 8288) points past the last row sent, by its key in the
 * list's order (`keyOf`, the id unless told).
 */
export function sendPage<T extends { id: number }>(
  ctx: Context,
  rows: T[],
  page: PageRequest,
  keyOf: (row: T) => number = (row) => row.id,
): void {
  const items = rows.slice(0, page.limit);
  const last = items.at(-1);
  if (rows.length > page.limit && last) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(ctx.query)) {
      if (key !== 'after' && key !== 'limit' && typeof value === 'string') params.set(key, value);
    }
    params.set('after', String(keyOf(last)));
    params.set('limit', String(page.limit));
    ctx.set('Link', `<${ctx.path}?${params.toString()}>; rel="next"`);
  }
  ctx.body = items;
}
