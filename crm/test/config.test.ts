import { describe, expect, test } from '@jest/globals';
import { ConfigError } from '@welcome/common';
import { DEFAULT_RETRY_SCHEDULE_MS, loadConfig } from '../src/config.js';

const secret = `whsec_${Buffer.alloc(24, 1).toString('base64')}`;
const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env, false);
    return [];
  } catch (error) {
    return (error as ConfigError).problems;
  }
};

describe('the CRM configuration', () => {
  test('has no webhook endpoint to make and the documented schedule by default', () => {
    expect(loadConfig({}, false)).toMatchObject({
      webhook: undefined,
      webhookRetryScheduleMs: DEFAULT_RETRY_SCHEDULE_MS,
      webhookTimeoutMs: 5000,
      maxHeldPolls: 1000,
      apiKeys: [],
    });
    expect(loadConfig({ MAX_HELD_POLLS: '3' }, false).maxHeldPolls).toBe(3);
    expect(problemsOf({ MAX_HELD_POLLS: '0' })).toEqual([
      'MAX_HELD_POLLS="0" is not valid: expected a whole number of 1 or more',
    ]);
    expect(DEFAULT_RETRY_SCHEDULE_MS).toEqual([5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000]);
  });

  test('reads the webhook variables', () => {
    expect(
      loadConfig(
        {
          WEBHOOK_URL: 'http://middleware:3003/webhooks/crm',
          WEBHOOK_SECRET: secret,
          WEBHOOK_RETRY_SCHEDULE_MS: '10, 20',
          WEBHOOK_TIMEOUT_MS: '700',
        },
        false,
      ),
    ).toMatchObject({
      webhook: { url: 'http://middleware:3003/webhooks/crm', secret, batchSize: 1 },
      webhookRetryScheduleMs: [10, 20],
      webhookTimeoutMs: 700,
    });
    expect(
      loadConfig(
        { WEBHOOK_URL: 'http://middleware:3003/webhooks/crm', WEBHOOK_SECRET: secret, WEBHOOK_BATCH_SIZE: '100' },
        false,
      ).webhook,
    ).toMatchObject({
      batchSize: 100,
    });
  });

  test('reports every bad webhook setting at once', () => {
    expect(
      problemsOf({
        WEBHOOK_URL: 'ftp://x',
        WEBHOOK_SECRET: 'hunter2',
        WEBHOOK_RETRY_SCHEDULE_MS: '5,soon',
        WEBHOOK_TIMEOUT_MS: '0',
      }),
    ).toEqual([
      'WEBHOOK_URL="ftp://x" is not valid: must be an absolute http:// or https:// URL',
      'WEBHOOK_SECRET is not valid: expected whsec_ followed by base64',
      'WEBHOOK_RETRY_SCHEDULE_MS="5,soon" is not valid: expected comma-separated delays in milliseconds, each a ' +
        'whole number of 1 or more',
      'WEBHOOK_TIMEOUT_MS="0" is not valid: expected a whole number of 1 or more',
    ]);
    expect(problemsOf({ WEBHOOK_BATCH_SIZE: '101' })).toEqual([
      'WEBHOOK_BATCH_SIZE="101" is not valid: expected a whole number from 1 to 100',
    ]);
    expect(loadConfig({}, false).webhookRetentionDays).toBe(30);
    expect(loadConfig({ WEBHOOK_RETENTION_DAYS: '7' }, false).webhookRetentionDays).toBe(7);
    expect(problemsOf({ WEBHOOK_RETENTION_DAYS: '0' })).toEqual([
      'WEBHOOK_RETENTION_DAYS="0" is not valid: expected a whole number of 1 or more',
    ]);
    expect(problemsOf({ WEBHOOK_URL: 'http://middleware:3003/webhooks/crm' })).toEqual([
      'WEBHOOK_URL and WEBHOOK_SECRET go together: set both, or neither',
    ]);
  });
});
