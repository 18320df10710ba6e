import { createHash } from 'node:crypto';
import { lookup, type LookupAddress, type LookupOptions } from 'node:dns';
import got from 'got';
import { SpanKind } from '@opentelemetry/api';
import { contextOf, inSpan, isTracing, keepAliveAgents, linkTo, readTraceparent, retryAfterOf } from '@welcome/common';
import { Webhook } from 'standardwebhooks';
import { isLinkLocal, urlProblem } from './webhook-url.js';
import type { DueMessage } from '../store/webhooks/webhook-store.js';

export interface SendResult {
  delivered: boolean;
  /** The subscriber's status, when it answered at all. */
  status: number | null;
  error: string | null;
  /** A 429 or 503 with Retry-After: how long it asked to be left alone. */
  retryAfterMs?: number;
}

/**
 * Sends one request to one endpoint, signed as Standard Webhooks says; any 2xx delivers every
 * message it carries. An endpoint whose batch size is 1 gets one message, its payload as the body;
 * one whose batch size is more gets one or more, as a JSON array of their payloads, each with its
 * `id` (its webhook-id) first.
 */
export type WebhookSender = (messages: readonly DueMessage[], at: Date) => Promise<SendResult>;

/** The `webhook-id` of a message: the same on every attempt, so a subscriber can drop a repeat. */
export const webhookId = (messageId: number) => `msg_${messageId}`;

/** The `webhook-id` of a request carrying several messages: the same for the same messages. */
export const batchWebhookId = (messageIds: readonly number[]) =>
  `batch_${createHash('sha256').update(messageIds.join(',')).digest('base64url').slice(0, 24)}`;

/** The body and webhook-id of one request to the endpoint of `messages`. */
export function requestOf(messages: readonly DueMessage[]): { id: string; body: string } {
  const [first] = messages;
  if (messages.length === 1 && first!.endpoint.batchSize === 1)
    return { id: webhookId(first!.id), body: first!.payload };
  // Each payload is a stored JSON object, sent as it is but for its id, put in front of its fields.
  const events = messages.map(
    (message) => `{"id":${JSON.stringify(webhookId(message.id))},${message.payload.slice(1)}`,
  );
  return { id: batchWebhookId(messages.map((message) => message.id)), body: `[${events.join(',')}]` };
}

/** The trace context a stored payload's customer was created in, if it was traced. */
const traceparentIn = (payload: string) => readTraceparent(/"traceparent":"([^"]*)"/.exec(payload)?.[1]);

/**
 * The span of one request: a child of the first message's trace (one message: its customer's own),
 * linked to the trace of every message it carries, so each customer's trace shows its webhook.
 */
function sendSpan(messages: readonly DueMessage[], id: string) {
  const traceparents = messages.map((message) => traceparentIn(message.payload));
  return {
    kind: SpanKind.PRODUCER,
    parent: contextOf(traceparents[0]),
    links: traceparents.flatMap(linkTo),
    attributes: {
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'customer.created',
      'messaging.message.id': id,
      'messaging.batch.message_count': messages.length,
    },
  };
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A dns.lookup that refuses a host resolving to a link-local address (server-side request
 * forgery: a name of the attacker's pointing at the cloud metadata service), at each send.
 */
export function lookupOutsideLinkLocal(resolve: typeof lookup = lookup) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const refused = addresses.find((entry) => isLinkLocal(entry.address));
      if (refused) {
        const failure: NodeJS.ErrnoException = new Error(
          `${hostname} resolves to the link-local address ${refused.address}; not called`,
        );
        failure.code = 'ELINKLOCAL';
        return callback(failure, []);
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/**
 * At most this much of an answer's body is read (and thrown away) so that its connection can
 * carry the next message; an answer with more is cut off there, and its connection dropped.
 */
export const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * One got instance for every subscriber: a timeout per attempt, no retry of its own (the
 * dispatcher's schedule is the retry), no redirects followed, no link-local address called, and
 * connections kept open between messages (`maxSockets` of them per subscriber: as many as are
 * sent at once). Only the answer's status counts: the message's outcome is settled as soon as the
 * status line and headers are in; the body is read and dropped afterwards, up to MAX_ANSWER_BYTES
 * and within the timeout, so that a subscriber streaming without end costs a dropped connection.
 */
export interface WebhookSenderOptions {
  timeoutMs: number;
  /** How many requests are sent at once: the size of the keep-alive pool. */
  maxSockets?: number;
  /** How names are resolved: the system's, unless a test says otherwise. */
  resolve?: typeof lookup;
  /** How many endpoints there may be: each one's url verdict and signer are kept for reuse. */
  endpoints?: number;
}

/** Reads an answer's body to its end, so its connection goes back to the pool, or drops it past the cap. */
function drain(stream: NodeJS.ReadableStream & { destroy(): void }): void {
  let read = 0;
  stream.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > MAX_ANSWER_BYTES) stream.destroy();
  });
}

/** What `work` gave for each key, kept for `most` keys (all forgotten past that). */
function remembered<T>(work: (key: string) => T, most: number): (key: string) => T {
  const kept = new Map<string, T>();
  return (key) => {
    if (!kept.has(key)) {
      if (kept.size >= most) kept.clear();
      kept.set(key, work(key));
    }
    return kept.get(key)!;
  };
}

export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const http = got.extend({
    agent: keepAliveAgents(options.maxSockets ?? 1),
    timeout: { request: options.timeoutMs },
    retry: { limit: 0 },
    followRedirect: false,
    throwHttpErrors: false,
    dnsLookup: lookupOutsideLinkLocal(options.resolve) as never,
  });
  // Worked out once per endpoint and reused for every request: the url's verdict, and the signer
  // (which decodes its secret).
  const problemOf = remembered(urlProblem, options.endpoints ?? 1);
  const signerFor = remembered((secret: string) => new Webhook(secret), options.endpoints ?? 1);
  return async (messages, at) => {
    const { endpoint } = messages[0]!;
    // An endpoint stored before a rule existed is held to it too (the address its name resolves to,
    // at each send, by the lookup).
    const problem = problemOf(endpoint.url);
    if (problem) return { delivered: false, status: null, error: `not called: the url ${problem}` };
    const { id, body } = requestOf(messages);
    if (!isTracing()) return send(endpoint, id, body, at);
    return inSpan('send customer.created', sendSpan(messages, id), async (span) => {
      const result = await send(endpoint, id, body, at);
      if (result.status !== null) span?.setAttribute('http.response.status_code', result.status);
      if (!result.delivered)
        span?.addEvent('not delivered', {
          'http.response.status_code': result.status ?? 0,
          'error.message': result.error ?? '',
        });
      return result;
    });
  };

  async function send(endpoint: DueMessage['endpoint'], id: string, body: string, at: Date): Promise<SendResult> {
    try {
      const stream = http.stream.post(endpoint.url, {
        body,
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signerFor(endpoint.secret).sign(id, at, body),
        },
      });
      const response = await new Promise<{
        statusCode: number;
        headers: Record<string, string | string[] | undefined>;
      }>((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('error', reject);
      });
      const status = response.statusCode;
      const retryAfterMs = retryAfterOf(response);
      // Errors after the status (a timeout while draining, the cap) change nothing about the outcome.
      stream.on('error', () => {});
      drain(stream);
      const delivered = status >= 200 && status < 300;
      if (retryAfterMs !== undefined)
        return {
          delivered,
          status,
          error: `answered ${status} with Retry-After: ${Math.ceil(retryAfterMs / 1000)} s`,
          retryAfterMs,
        };
      return { delivered, status, error: delivered ? null : `answered ${status}` };
    } catch (error) {
      const code = (error as { code?: string }).code;
      return {
        delivered: false,
        status: null,
        error: code ? `${code}: ${(error as Error).message}` : (error as Error).message,
      };
    }
  }
}
