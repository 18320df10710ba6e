import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AppError } from '@welcome/common/errors';
import {
  EnvReader,
  parseApiKey,
  parseHttpUrl,
  parseLogLevel,
  parsePositiveInteger,
  parseWebhookSecret,
  type Env,
} from '@welcome/common/config';
import { createLogger } from '@welcome/common/logger';
import { createInventoryClient } from './clients/inventory-client.js';
import { handleCrmRequest, verifyCrmRequest, type WebhookHandling } from './domain/crm-webhook.js';
import { createStatelessDelivery } from './domain/delivery/stateless.js';

/**
 * The CRM's webhook as an AWS Lambda function (a function URL, or an API Gateway HTTP API with
 * payload format 2.0): the same signature check and the same delivery core as the middleware's
 * POST /webhooks/crm, stateless: no SQLite, no poller, no dead-letter table (a refusal is a 422,
 * which the CRM's message log keeps as failed).
 */

const RETRY_DELAY_MS = 1000;

interface LambdaConfig {
  inventoryUrl: string;
  secret: string;
  timeoutMs: number;
  logLevel: string;
  /** INVENTORY_API_KEY: sent to the Inventory when set. */
  inventoryApiKey: string | undefined;
}

export function loadLambdaConfig(env: Env): Readonly<LambdaConfig> {
  const reader = new EnvReader(env);
  const inventoryUrl = reader.read<string | undefined>('INVENTORY_URL', undefined, parseHttpUrl);
  const secret = reader.read<string | undefined>('CRM_WEBHOOK_SECRET', undefined, parseWebhookSecret);
  reader.check(inventoryUrl !== undefined, 'INVENTORY_URL is required: where the Inventory is');
  reader.check(
    secret !== undefined,
    'CRM_WEBHOOK_SECRET is required: the secret of the CRM webhook endpoint that calls this function',
  );
  return reader.done({
    inventoryUrl: inventoryUrl ?? '',
    secret: secret ?? '',
    timeoutMs: reader.read('HTTP_TIMEOUT_MS', 5000, parsePositiveInteger),
    logLevel: reader.read('LOG_LEVEL', 'info', parseLogLevel),
    inventoryApiKey: reader.read<string | undefined>('INVENTORY_API_KEY', undefined, parseApiKey),
  });
}

/** Built once per container, on the first event, and kept warm between invocations. */
let built: { config: LambdaConfig; deps: WebhookHandling } | undefined;
function build(): { config: LambdaConfig; deps: WebhookHandling } {
  if (built) return built;
  const config = loadLambdaConfig(process.env);
  const logger = createLogger({ service: 'middleware-lambda', level: config.logLevel, format: 'json' });
  const inventory = createInventoryClient({
    baseUrl: config.inventoryUrl,
    timeoutMs: config.timeoutMs,
    retryDelayMs: RETRY_DELAY_MS,
    logger,
    apiKey: config.inventoryApiKey,
  });
  built = { config, deps: { delivery: createStatelessDelivery({ inventory, logger, now: () => new Date() }), logger } };
  return built;
}

/** An answer as the CRM's webhook route gives it: a status, its headers and a JSON body. */
interface WebhookAnswer {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

const toResult = (answer: WebhookAnswer): APIGatewayProxyStructuredResultV2 => ({
  statusCode: answer.status,
  headers: {
    'content-type': answer.status >= 400 ? 'application/problem+json' : 'application/json',
    ...answer.headers,
  },
  body: JSON.stringify(answer.body),
});

export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const { config, deps } = build();
  const body = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  try {
    return toResult(await handleCrmRequest(deps, verifyCrmRequest(config.secret, event.headers ?? {}, body)));
  } catch (error) {
    if (error instanceof AppError)
      return toResult({ status: error.status, headers: error.headers, body: error.toProblem() });
    deps.logger.error('The webhook could not be handled', { error: (error as Error).stack });
    return toResult({
      status: 500,
      body: {
        type: '/problems/internal-error',
        title: 'Internal Server Error',
        status: 500,
        detail: 'The function failed; the error is in its log.',
      },
    });
  }
}
