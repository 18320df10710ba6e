import { runService, startService } from '@welcome/common';
import { createCrm } from './app.js';
import { loadConfig } from './config.js';
import { crmSchema } from './store/schema.js';

await runService(
  'crm',
  () => loadConfig(process.env, Boolean(process.stdout.isTTY)),
  (config) =>
    startService('crm', config, crmSchema, (database, logger) =>
      createCrm({
        database,
        logger,
        webhook: config.webhook,
        webhookRetryScheduleMs: config.webhookRetryScheduleMs,
        webhookTimeoutMs: config.webhookTimeoutMs,
        webhookDisableAfterMs: config.webhookDisableAfterMs,
        webhookRetentionDays: config.webhookRetentionDays,
        apiKeys: config.apiKeys,
        maxHeldPolls: config.maxHeldPolls,
      }),
    ),
);
