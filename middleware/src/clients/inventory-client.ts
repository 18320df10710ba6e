import { HTTPError, RequestError, type Got, type Response } from 'got';
import { z } from 'zod';
import {
  createUpstream,
  describeFailure,
  linkedPages,
  retryAfterOf,
  ThrottledError,
  TRANSIENT_STATUSES,
  UpstreamUnavailableError,
  ping,
  type ClientOptions,
} from './upstream.js';

export interface PackageRequest {
  customerId: number;
  customerName: string;
}

/** What the Inventory answered, as far as delivery is concerned. */
export type PackageOutcome =
  | { kind: 'created'; packageId: number }
  | { kind: 'alreadyThere'; packageId: number }
  /** A permanent refusal (4xx other than 408/429): sending it again would not help. */
  | { kind: 'refused'; status: number; answer: unknown };

/** A package as a reconciliation compares it with its customer. */
export interface InventoryPackage {
  id: number;
  customerId: number;
  customerName: string;
}

const packagePage = z.array(
  z.looseObject({
    id: z.number().int().positive(),
    customerId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    customerName: z.string(),
  }),
);

/**
 * One HTTP attempt at the Inventory, as a customer's journey tells it: its status, or null and why
 * there was none; and how long it asked to be left alone, when it did (a 429 or 503 with Retry-After).
 */
export interface Attempt {
  status: number | null;
  error?: string;
  retryAfterMs?: number;
}

export interface RequestOptions {
  onAttempt?: ((attempt: Attempt) => void) | undefined;
  beforeRetry?: (() => Promise<void>) | undefined;
}

/** What the caller's beforeRetry threw, carried through got (which wraps what a hook throws) to be thrown as it was. */
class StoppedByCaller extends Error {
  constructor(readonly reason: unknown) {
    super('stopped by the caller before the retry');
  }
}

export interface InventoryClient {
  /** Why /health does not answer, or undefined when it does. */
  ping(): Promise<string | undefined>;
  /**
   * Throws UpstreamUnavailableError when the Inventory gives no usable answer after the retry, and
   * ThrottledError when it said when to come back (then nothing more is sent, not even the retry).
   * `onAttempt` is told of each HTTP attempt (got's retry included) as it ends; `beforeRetry` is
   * awaited before got's retry is sent, and what it throws ends the request as it is.
   */
  requestPackage(request: PackageRequest, options?: RequestOptions): Promise<PackageOutcome>;
  /**
   * Every package of a customer after `customerId`, in customer-id order, a page at a time
   * (`GET /packages?orderBy=customerId`). Throws UpstreamUnavailableError when a page cannot be read.
   */
  packagesByCustomer(customerId: number, pageSize?: number): AsyncGenerator<InventoryPackage[]>;
  /**
   * How many packages this process has asked for, each ask once whatever got's retry did:
   * its share of the work among replicas.
   */
  asks(): number;
}

function packageIdOf(body: unknown): number | undefined {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? id : undefined;
}

export function createInventoryClient(options: ClientOptions): InventoryClient {
  const http: Got = createUpstream({ name: 'Inventory', ...options });
  let asks = 0;

  return {
    ping: () => ping(http),
    asks: () => asks,

    async *packagesByCustomer(customerId, pageSize = 100) {
      const url = new URL(`${options.baseUrl}/packages`);
      url.searchParams.set('orderBy', 'customerId');
      url.searchParams.set('after', String(customerId));
      url.searchParams.set('limit', String(pageSize));
      for await (const body of linkedPages(http, url, { upstream: 'Inventory', logger: options.logger })) {
        const page = packagePage.safeParse(body);
        if (!page.success)
          throw new UpstreamUnavailableError('Inventory', 'the package list is not a JSON array of packages');
        yield page.data.map(({ id, customerId: owner, customerName }) => ({ id, customerId: owner, customerName }));
      }
    },

    async requestPackage(request, { onAttempt, beforeRetry } = {}) {
      asks += 1;
      // An attempt with an answer is told when it comes; one without, when got retries it or gives up.
      const told = (error: unknown) => {
        if (onAttempt && !(error instanceof HTTPError) && !(error instanceof UpstreamUnavailableError)) {
          onAttempt({ status: null, error: describeFailure(error, 'Inventory') });
        }
      };
      const afterResponse = (response: Response) => {
        const retryAfterMs = retryAfterOf(response);
        onAttempt?.({ status: response.statusCode, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
        return response;
      };
      const stopOrGoOn = async () => {
        await beforeRetry?.().catch((reason: unknown) => {
          throw new StoppedByCaller(reason);
        });
      };
      const hooks = { afterResponse: [afterResponse], beforeRetry: [told, stopOrGoOn] };
      try {
        const response = await http.post('packages', { json: request, hooks });
        const packageId = packageIdOf(response.body);
        if ((response.statusCode !== 200 && response.statusCode !== 201) || packageId === undefined) {
          throw new UpstreamUnavailableError(
            'Inventory',
            `unexpected answer ${response.statusCode} without a package id`,
          );
        }
        return { kind: response.statusCode === 201 ? 'created' : 'alreadyThere', packageId };
      } catch (error) {
        if (error instanceof RequestError && error.cause instanceof StoppedByCaller) throw error.cause.reason;
        told(error);
        if (error instanceof UpstreamUnavailableError) throw error;
        const retryAfterMs = error instanceof HTTPError ? retryAfterOf(error.response) : undefined;
        if (retryAfterMs !== undefined)
          throw new ThrottledError('Inventory', (error as HTTPError).response.statusCode, retryAfterMs, {
            cause: error,
          });
        // A 401 is about our key, not this customer: an outage until the key is right, never a dead letter.
        if (
          error instanceof HTTPError &&
          error.response.statusCode !== 401 &&
          !TRANSIENT_STATUSES.includes(error.response.statusCode)
        ) {
          return { kind: 'refused', status: error.response.statusCode, answer: error.response.body };
        }
        throw new UpstreamUnavailableError('Inventory', describeFailure(error, 'Inventory'), { cause: error });
      }
    },
  };
}
