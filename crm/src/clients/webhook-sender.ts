import got from 'got';
import { Webhook } from 'standardwebhooks';
import type { DueMessage } from '../store/webhook-store.js';

export interface SendResult {
  delivered: boolean;
  /** The subscriber's status, when it answered at all. */
  status: number | null;
  error: string | null;
}

/** Sends one message, signed as Standard Webhooks says; any 2xx is delivered. */
export type WebhookSender = (message: DueMessage, at: Date) => Promise<SendResult>;

/** The `webhook-id` of a message: the same on every attempt, so a subscriber can drop a repeat. */
export const webhookId = (messageId: number) => `msg_${messageId}`;

/**
 * One got instance for every subscriber: a timeout per attempt, no retry of its own (the
 * dispatcher's schedule is the retry), and no redirects followed.
 */
export function createWebhookSender(options: { timeoutMs: number }): WebhookSender {
  const http = got.extend({
    timeout: { request: options.timeoutMs },
    retry: { limit: 0 },
    followRedirect: false,
    throwHttpErrors: false,
  });
  return async (message, at) => {
    const id = webhookId(message.id);
    try {
      const response = await http.post(message.endpoint.url, {
        body: message.payload,
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': new Webhook(message.endpoint.secret).sign(id, at, message.payload),
        },
      });
      const delivered = response.statusCode >= 200 && response.statusCode < 300;
      return { delivered, status: response.statusCode, error: delivered ? null : `answered ${response.statusCode}` };
    } catch (error) {
      const code = (error as { code?: string }).code;
      return { delivered: false, status: null, error: code ? `${code}: ${(error as Error).message}` : (error as Error).message };
    }
  };
}
