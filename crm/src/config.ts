import {
  EnvReader,
  parseDuration,
  parsePositiveInteger,
  parseWebhookSecret,
  readCommonConfig,
  type CommonConfig,
  type Env,
} from '@welcome/common';
import { DEFAULT_WEBHOOK_RETENTION_DAYS } from './domain/message-retention.js';
import { MAX_BATCH_SIZE, urlProblem } from './domain/webhooks.js';

/** MAX_HELD_POLLS when not set. */
export const DEFAULT_MAX_HELD_POLLS = 1000;

export interface CrmConfig extends CommonConfig {
  /** An endpoint the CRM makes sure exists at start (compose points it at the middleware), with its batch size. */
  webhook: { url: string; secret: string; batchSize: number } | undefined;
  /** The delays between a failed webhook attempt and the next; once spent, the message is failed. */
  webhookRetryScheduleMs: number[];
  webhookTimeoutMs: number;
  /** WEBHOOK_RETENTION_DAYS: how long delivered and failed messages are kept after their last attempt. */
  webhookRetentionDays: number;
  /** MAX_HELD_POLLS: long polls held at once; one more is answered 503 with Retry-After. */
  maxHeldPolls: number;
  /** WEBHOOK_DISABLE_AFTER: an endpoint whose every attempt has failed this long is disabled (ms); undefined: never. */
  webhookDisableAfterMs: number | undefined;
}

/** WEBHOOK_DISABLE_AFTER when not set: five days, as Svix does. */
export const DEFAULT_WEBHOOK_DISABLE_AFTER_MS = 5 * 86_400_000;

export const DEFAULT_RETRY_SCHEDULE_MS = [5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

function parseSchedule(raw: string): number[] {
  const delays = raw.split(',').map((part) => part.trim());
  if (delays.some((delay) => !/^\d+$/.test(delay) || Number(delay) < 1 || Number(delay) > 2 ** 31 - 1)) {
    throw new Error('expected comma-separated delays in milliseconds, each a whole number of 1 or more');
  }
  return delays.map(Number);
}

function parseWebhookUrl(raw: string): string {
  const problem = urlProblem(raw);
  if (problem) throw new Error(problem);
  return raw;
}

function parseBatchSize(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_BATCH_SIZE)
    throw new Error(`expected a whole number from 1 to ${MAX_BATCH_SIZE}`);
  return Number(raw);
}

export function loadConfig(env: Env, isTty: boolean): Readonly<CrmConfig> {
  const reader = new EnvReader(env);
  const common = readCommonConfig(reader, 'crm', 3001, isTty);
  const url = reader.read<string | undefined>('WEBHOOK_URL', undefined, parseWebhookUrl);
  const secret = reader.read<string | undefined>('WEBHOOK_SECRET', undefined, parseWebhookSecret);
  reader.check(
    (url === undefined) === (secret === undefined),
    'WEBHOOK_URL and WEBHOOK_SECRET go together: set both, or neither',
  );
  const batchSize = reader.read('WEBHOOK_BATCH_SIZE', 1, parseBatchSize);
  return reader.done({
    ...common,
    webhook: url !== undefined && secret !== undefined ? { url, secret, batchSize } : undefined,
    webhookRetryScheduleMs: reader.read('WEBHOOK_RETRY_SCHEDULE_MS', DEFAULT_RETRY_SCHEDULE_MS, parseSchedule),
    webhookTimeoutMs: reader.read('WEBHOOK_TIMEOUT_MS', 5000, parsePositiveInteger),
    webhookRetentionDays: reader.read('WEBHOOK_RETENTION_DAYS', DEFAULT_WEBHOOK_RETENTION_DAYS, parsePositiveInteger),
    webhookDisableAfterMs: reader.read<number | undefined>(
      'WEBHOOK_DISABLE_AFTER',
      DEFAULT_WEBHOOK_DISABLE_AFTER_MS,
      (raw) => (raw === 'off' ? undefined : parseDuration(raw)),
    ),
    maxHeldPolls: reader.read('MAX_HELD_POLLS', DEFAULT_MAX_HELD_POLLS, parsePositiveInteger),
  });
}
