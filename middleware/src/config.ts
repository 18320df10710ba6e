import {
  EnvReader,
  parseHttpUrl,
  parsePositiveInteger,
  readCommonConfig,
  type CommonConfig,
  type Env,
} from '@welcome/common';

export interface MiddlewareConfig extends CommonConfig {
  crmUrl: string;
  inventoryUrl: string;
  pollIntervalMs: number;
  /** The whole-request timeout of every call to the CRM or the Inventory. */
  httpTimeoutMs: number;
  /** The longest pause between cycles while an upstream is failing. */
  backoffMaxMs: number;
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
  });
}
