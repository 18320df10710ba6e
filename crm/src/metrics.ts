import { Counter, Gauge, type Registry } from 'prom-client';
import { createRegistry } from '@welcome/common';
import type { CustomerFeed } from './domain/customer-feed.js';
import type { WebhookStore } from './store/webhooks/webhook-store.js';

export interface CrmMetrics {
  registry: Registry;
  customersCreated: Counter;
  attempts: Counter<'result'>;
}

/**
 * The CRM's Prometheus metrics: what it counts as it goes (customers, webhook attempts), and what
 * it reads at each scrape (its message log by status, the long polls held).
 */
export function createCrmMetrics(webhooks: WebhookStore, feed: CustomerFeed): CrmMetrics {
  const registry = createRegistry('crm');
  const customersCreated = new Counter({
    name: 'crm_customers_created_total',
    help: 'Customers registered',
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'crm_webhook_attempts_total',
    help:
      'Webhook delivery attempts, by result: delivered, retrying (failed, another attempt scheduled), ' +
      'failed (schedule spent) or throttled (the endpoint answered 429 or 503 with Retry-After)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'crm_webhook_messages',
    help: 'Webhook messages by status: pending, delivered, failed',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      // While the database cannot be counted the series are left out, and the rest of /metrics still answers.
      const counts = await webhooks.countByStatus().catch(() => undefined);
      this.reset();
      if (counts) for (const [status, count] of Object.entries(counts)) this.set({ status }, count);
    },
  });
  new Gauge({
    name: 'crm_long_polls_held',
    help: 'GET /customers?wait= requests held open now',
    registers: [registry],
    collect() {
      this.set(feed.held());
    },
  });
  return { registry, customersCreated, attempts };
}
