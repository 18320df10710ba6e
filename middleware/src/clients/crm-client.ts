import { HTTPError, type Got } from 'got';
import { readTraceparent } from '@welcome/common/tracing';
import { z } from 'zod';
import {
  createUpstream,
  linkedPages,
  unavailableRead,
  UpstreamUnavailableError,
  ping,
  type ClientOptions,
} from './upstream.js';

export { nextLink } from './upstream.js';

/** The middleware's own view of a CRM customer: only what it needs, checked on arrival. */
export interface CrmCustomer {
  id: number;
  name: string;
}

/**
 * One record of a CRM page: a customer fit to deliver, or one with a usable id but something
 * wrong with it (`problem`), which is dead-lettered in its turn instead of blocking the rest.
 */
export type CustomerRecord =
  | { id: number; customer: CrmCustomer; problem?: undefined; trace?: RecordTrace }
  | (UnusableRecord & { id: number; trace?: RecordTrace });

/** When and in which trace the CRM created a customer, as its record tells (when it does). */
export interface RecordTrace {
  createdAt?: string;
  /** The W3C trace context of the customer's creation: its delivery continues that trace. */
  traceparent?: string;
}

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
  customersAfter(
    cursor: number,
    pageSize?: number,
    options?: { waitS?: number; signal?: AbortSignal },
  ): AsyncGenerator<CustomerPage>;
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
  if (!id.success)
    return { raw, problem: `its id ${JSON.stringify(record.id) ?? 'is missing'}: not a positive whole number` };
  const name = customerName.safeParse(record.name);
  if (!name.success) {
    return {
      id: id.data,
      raw,
      problem: `its name ${JSON.stringify(record.name) ?? 'is missing'}: not a non-empty string`,
    };
  }
  const trace = traceOf(record);
  return { id: id.data, customer: { id: id.data, name: name.data }, ...(trace ? { trace } : {}) };
}

/** The record's creation time and trace context, the ones that are well formed; undefined for neither. */
function traceOf(record: Record<string, unknown>): RecordTrace | undefined {
  const traceparent = readTraceparent(record.traceparent);
  const createdAt =
    typeof record.createdAt === 'string' && !Number.isNaN(Date.parse(record.createdAt)) ? record.createdAt : undefined;
  if (traceparent === undefined && createdAt === undefined) return undefined;
  return { ...(traceparent ? { traceparent } : {}), ...(createdAt ? { createdAt } : {}) };
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

const unavailable = (error: unknown) => unavailableRead('CRM', error);

export function createCrmClient(options: ClientOptions): CrmClient {
  const http: Got = createUpstream({ name: 'CRM', ...options });

  return {
    ping: () => ping(http),

    async *customersAfter(cursor, pageSize = 100, { waitS = 0, signal } = {}) {
      const url = new URL(`${options.baseUrl}/customers`);
      url.searchParams.set('after', String(cursor));
      url.searchParams.set('limit', String(pageSize));
      if (waitS > 0) url.searchParams.set('wait', String(waitS));
      // A held long poll has its wait on top of the usual timeout.
      const timeoutMs = (page: URL) => options.timeoutMs + (page.searchParams.has('wait') ? waitS * 1000 : 0);
      for await (const body of linkedPages(http, url, {
        upstream: 'CRM',
        logger: options.logger,
        timeoutMs,
        ...(signal ? { signal } : {}),
      })) {
        yield readCustomerPage(body);
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
