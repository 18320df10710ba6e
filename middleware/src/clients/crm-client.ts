import { HTTPError, ParseError, type Got } from 'got';
import LinkHeader from 'http-link-header';
import { z } from 'zod';
import { createUpstream, describeFailure, UpstreamUnavailableError, ping, type ClientOptions } from './upstream.js';

/** The middleware's own view of a CRM customer: only what it needs, checked on arrival. */
export interface CrmCustomer {
  id: number;
  name: string;
}

/**
 * One record of a CRM page: a customer fit to deliver, or one with a usable id but something
 * wrong with it (`problem`), which is dead-lettered in its turn instead of blocking the rest.
 */
export type CustomerRecord = { id: number; customer: CrmCustomer; problem?: undefined } | (UnusableRecord & { id: number });

/** A record the middleware cannot deliver, as received, with what is wrong with it. */
export interface UnusableRecord {
  id?: number;
  problem: string;
  raw: unknown;
}

export interface CustomerPage {
  records: CustomerRecord[];
  /** Entries without a usable id: they cannot be placed on the cursor. */
  unidentified: UnusableRecord[];
}

export interface CrmClient {
  /** Why /health does not answer, or undefined when it does. */
  ping(): Promise<string | undefined>;
  /**
   * The customers after `cursor`, page by page, following `Link: rel="next"` until the end. With
   * `waitS`, the first page is a long poll: the CRM holds it until a customer follows the cursor.
   */
  customersAfter(cursor: number, pageSize?: number, options?: { waitS?: number; signal?: AbortSignal }): AsyncGenerator<CustomerPage>;
  /** One customer as the CRM has it now; undefined when the CRM says 404. */
  getCustomer(id: number): Promise<CustomerRecord | undefined>;
}

const customerId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const customerName = z.string().refine((name) => name.trim().length > 0);

/** Checks one customer as the CRM sent it (in a page or a webhook event). */
export function readCustomerRecord(raw: unknown): CustomerRecord | UnusableRecord {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { raw, problem: 'the record is not a JSON object' };
  }
  const record = raw as Record<string, unknown>;
  const id = customerId.safeParse(record.id);
  if (!id.success) return { raw, problem: `its id ${JSON.stringify(record.id) ?? 'is missing'}: not a positive whole number` };
  const name = customerName.safeParse(record.name);
  if (!name.success) {
    return { id: id.data, raw, problem: `its name ${JSON.stringify(record.name) ?? 'is missing'}: not a non-empty string` };
  }
  return { id: id.data, customer: { id: id.data, name: name.data } };
}

function readCustomerPage(body: unknown): CustomerPage {
  if (!Array.isArray(body)) throw new UpstreamUnavailableError('CRM', 'the customer list is not a JSON array');
  const page: CustomerPage = { records: [], unidentified: [] };
  for (const raw of body) {
    const record = readCustomerRecord(raw);
    if (record.id === undefined) page.unidentified.push(record as UnusableRecord);
    else page.records.push(record as CustomerRecord);
  }
  return page;
}

/** The `rel="next"` target of a Link header (RFC 8288), resolved against the page it came with. */
export function nextLink(header: string | undefined, pageUrl: string): URL | undefined {
  if (!header) return undefined;
  try {
    const target = LinkHeader.parse(header).rel('next')[0]?.uri;
    return target === undefined ? undefined : new URL(target, pageUrl);
  } catch {
    // A Link header we cannot read ends the walk here, as if there were no next page.
    return undefined;
  }
}

function unavailable(error: unknown): UpstreamUnavailableError {
  if (error instanceof UpstreamUnavailableError) return error;
  if (error instanceof ParseError) {
    return new UpstreamUnavailableError('CRM', 'it answered with something that is not JSON', { cause: error });
  }
  return new UpstreamUnavailableError('CRM', describeFailure(error, 'CRM'), { cause: error });
}

export function createCrmClient(options: ClientOptions): CrmClient {
  const http: Got = createUpstream({ name: 'CRM', ...options });
  const origin = new URL(options.baseUrl).origin;

  return {
    ping: () => ping(http),

    async *customersAfter(cursor, pageSize = 100, { waitS = 0, signal } = {}) {
      let url = new URL(`${options.baseUrl}/customers`);
      url.searchParams.set('after', String(cursor));
      url.searchParams.set('limit', String(pageSize));
      if (waitS > 0) url.searchParams.set('wait', String(waitS));
      const visited = new Set<string>();
      for (;;) {
        visited.add(url.href);
        let body: unknown;
        let link: string | undefined;
        try {
          // A held long poll has its wait on top of the usual timeout.
          const timeout = { request: options.timeoutMs + (url.searchParams.has('wait') ? waitS * 1000 : 0) };
          const response = await http.get(url, { prefixUrl: '', timeout, ...(signal ? { signal } : {}) });
          body = response.body;
          const header = response.headers.link;
          link = Array.isArray(header) ? header.join(', ') : header;
        } catch (error) {
          throw unavailable(error);
        }
        yield readCustomerPage(body);
        const next = nextLink(link, url.href);
        if (!next) return;
        if (next.origin !== origin) {
          options.logger.warn('The CRM linked to a page on another origin; not following it', { link: next.href });
          return;
        }
        if (visited.has(next.href)) {
          options.logger.warn('The CRM linked back to a page already read; stopping this walk', { link: next.href });
          return;
        }
        url = next;
      }
    },

    async getCustomer(id) {
      try {
        const response = await http.get(`customers/${id}`);
        const record = readCustomerRecord(response.body);
        if (record.id === id) return record as CustomerRecord;
        const problem = record.problem ?? `the CRM answered with customer ${String(record.id)}`;
        return { id, problem, raw: response.body };
      } catch (error) {
        if (error instanceof HTTPError && error.response.statusCode === 404) return undefined;
        throw unavailable(error);
      }
    },
  };
}
