import type { Context } from 'koa';
import { validationFailed, type FieldError } from './errors.js';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export interface PageRequest {
  /** Only rows with an id greater than this; 0 for the first page. */
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

/** A whole-number query parameter besides `after` and `limit`: a positive id filter, unless bounds are given. */
export type QueryNumber = string | { name: string; min: number; max: number };

/** Reads `?after=&limit=` (and any other whole-number parameters), or throws one 400 naming each bad one. */
export function parsePageRequest(ctx: Context, filters: QueryNumber[] = []): PageRequest & { filters: Record<string, number | undefined> } {
  const errors: FieldError[] = [];
  const after = readWholeNumber(ctx.query, 'after', 0, 0, Number.MAX_SAFE_INTEGER, errors);
  const limit = readWholeNumber(ctx.query, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT, errors);
  const values: Record<string, number | undefined> = {};
  for (const filter of filters) {
    const { name, min, max } = typeof filter === 'string' ? { name: filter, min: 1, max: Number.MAX_SAFE_INTEGER } : filter;
    const value = readWholeNumber(ctx.query, name, 0, min, max, errors);
    values[name] = ctx.query[name] === undefined ? undefined : value;
  }
  if (errors.length > 0) throw validationFailed(errors);
  return { after, limit, filters: values };
}

/**
 * Answers one keyset page. `rows` holds up to limit + 1 rows: the extra one only tells that more
 * follow, and then a `Link: rel="next"` (RFC 8288) points past the last row sent.
 */
export function sendPage<T extends { id: number }>(ctx: Context, rows: T[], page: PageRequest): void {
  const items = rows.slice(0, page.limit);
  const last = items.at(-1);
  if (rows.length > page.limit && last) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(ctx.query)) {
      if (key !== 'after' && key !== 'limit' && typeof value === 'string') params.set(key, value);
    }
    params.set('after', String(last.id));
    params.set('limit', String(page.limit));
    ctx.set('Link', `<${ctx.path}?${params.toString()}>; rel="next"`);
  }
  ctx.body = items;
}
