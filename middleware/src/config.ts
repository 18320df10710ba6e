import {
  EnvReader,
  parseApiKey,
  parseHttpUrl,
  parseWebhookSecret,
  parseDuration,
  parsePositiveInteger,
  readCommonConfig,
  type CommonConfig,
  type Env,
} from '@welcome/common';
import { DEFAULT_JOURNEY_RETENTION_DAYS } from './domain/journey-retention.js';

/** Customers delivered at once by default: see the README's bench section for how it was chosen. */
export const DEFAULT_DELIVERY_CONCURRENCY = 16;

export interface MiddlewareConfig extends CommonConfig {
  crmUrl: string;
  inventoryUrl: string;
  pollIntervalMs: number;
  /** The whole-request timeout of every call to the CRM or the Inventory. */
  httpTimeoutMs: number;
  /** The longest pause between cycles while an upstream is failing. */
  backoffMaxMs: number;
  /** CRM_WEBHOOK_SECRET: the key the CRM signs its webhooks with; POST /webhooks/crm exists only when set. */
  crmWebhookSecret: string | undefined;
  /** LONG_POLL_S: how long the CRM may hold each poll waiting for a new customer (0 to 30; 0 for plain polling). */
  longPollS: number;
  /** DELIVERY_CONCURRENCY: how many customers' packages are asked for at once (1 to 256). */
  deliveryConcurrency: number;
  /** CRM_API_KEY, INVENTORY_API_KEY: sent to each upstream as a bearer token when set. */
  crmApiKey: string | undefined;
  inventoryApiKey: string | undefined;
  /** RECONCILE_INTERVAL: how often a reconciliation starts on its own, in ms; undefined (the default) for never. */
  reconcileIntervalMs: number | undefined;
  /** JOURNEY_RETENTION_DAYS: how long each step of a customer's journey is kept (1 to 3650 days). */
  journeyRetentionDays: number;
  /** TRACE_UI_URL: a trace viewer's page for one trace, `{traceId}` standing for its id; undefined for none. */
  traceUiUrl: string | undefined;
  /** INVENTORY_RATE_LIMIT: requests a second to the Inventory, all replicas together; undefined (the default): none. */
  inventoryRateLimit: number | undefined;
  /** BREAKER_FAILURES: asks of the Inventory failed in a row that open the circuit breaker (1 to 1000). */
  breakerFailures: number;
  /** BREAKER_PROBE_INTERVAL: the first wait between probes of an open breaker, in ms; it doubles up to a minute. */
  breakerProbeMs: number;
}

/** BREAKER_FAILURES and BREAKER_PROBE_INTERVAL when not set. */
export const DEFAULT_BREAKER_FAILURES = 5;
export const DEFAULT_BREAKER_PROBE_MS = 5000;

/**
 * A rate in requests a second: a positive number up to 100,000 (fractions allowed: 0.5 is one every
 * two seconds); off for none.
 */
function parseRate(raw: string): number | undefined {
  if (raw === 'off') return undefined;
  const rate = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(rate > 0 && rate <= 100_000))
    throw new Error('expected requests a second, a number above 0 up to 100000 (e.g. 50), or off');
  return rate;
}

function parseBreakerFailures(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 1000)
    throw new Error('expected a whole number from 1 to 1000');
  return Number(raw);
}

/** A probe interval such as `5s`: from 1 s to a minute. */
function parseProbeInterval(raw: string): number {
  const ms = parseInterval(raw);
  if (ms === undefined || ms > 60_000) throw new Error('expected a duration from 1s to 60s (e.g. 5s)');
  return ms;
}

/** A duration such as `90s`, `30m`, `24h` or `7d`; `off` for none. */
export function parseInterval(raw: string): number | undefined {
  return raw === 'off' ? undefined : parseDuration(raw);
}

function parseConcurrency(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 256)
    throw new Error('expected a whole number from 1 to 256');
  return Number(raw);
}

function parseLongPoll(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 30) throw new Error('expected a whole number of seconds from 0 to 30');
  return Number(raw);
}

function parseRetentionDays(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 3650)
    throw new Error('expected a whole number of days from 1 to 3650');
  return Number(raw);
}

/** A trace viewer's URL for one trace, such as Jaeger's `http://localhost:16686/trace/{traceId}`. */
function parseTraceUiUrl(raw: string): string {
  if (!raw.includes('{traceId}'))
    throw new Error('expected {traceId} where the trace id goes, e.g. http://localhost:16686/trace/{traceId}');
  parseHttpUrl(raw.replaceAll('{traceId}', '0'));
  return raw;
}

export function loadConfig(env: Env, isTty: boolean): Readonly<MiddlewareConfig> {
  const reader = new EnvReader(env);
  return reader.done({
    ...readCommonConfig(reader, 'middleware', 3003, isTty),
    crmUrl: reader.read('CRM_URL', 'http://localhost:3001', parseHttpUrl),
    inventoryUrl: reader.read('INVENTORY_URL', 'http://localhost:3002', parseHttpUrl),
    pollIntervalMs: reader.read('POLL_INTERVAL_MS', 5000, parsePositiveInteger),
    httpTimeoutMs: reader.read('HTTP_TIMEOUT_MS', 5000, parsePositiveInteger),
    backoffMaxMs: reader.read('BACKOFF_MAX_MS', 60_000, parsePositiveInteger),
    crmWebhookSecret: reader.read<string | undefined>('CRM_WEBHOOK_SECRET', undefined, parseWebhookSecret),
    crmApiKey: reader.read<string | undefined>('CRM_API_KEY', undefined, parseApiKey),
    inventoryApiKey: reader.read<string | undefined>('INVENTORY_API_KEY', undefined, parseApiKey),
    longPollS: reader.read('LONG_POLL_S', 0, parseLongPoll),
    deliveryConcurrency: reader.read('DELIVERY_CONCURRENCY', DEFAULT_DELIVERY_CONCURRENCY, parseConcurrency),
    reconcileIntervalMs: reader.read<number | undefined>('RECONCILE_INTERVAL', undefined, parseInterval),
    journeyRetentionDays: reader.read('JOURNEY_RETENTION_DAYS', DEFAULT_JOURNEY_RETENTION_DAYS, parseRetentionDays),
    traceUiUrl: reader.read<string | undefined>('TRACE_UI_URL', undefined, parseTraceUiUrl),
    inventoryRateLimit: reader.read<number | undefined>('INVENTORY_RATE_LIMIT', undefined, parseRate),
    breakerFailures: reader.read('BREAKER_FAILURES', DEFAULT_BREAKER_FAILURES, parseBreakerFailures),
    breakerProbeMs: reader.read('BREAKER_PROBE_INTERVAL', DEFAULT_BREAKER_PROBE_MS, parseProbeInterval),
  });
}
