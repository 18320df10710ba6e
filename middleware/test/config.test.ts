import { describe, expect, test } from '@jest/globals';
import { ConfigError } from '@welcome/common';
import { loadConfig } from '../src/config.js';

describe('the middleware configuration', () => {
  test('has the documented defaults', () => {
    expect(loadConfig({}, false)).toEqual({
      port: 3003,
      host: '0.0.0.0',
      apiKeys: [],
      database: { kind: 'sqlite', path: 'data/middleware.db' },
      logLevel: 'info',
      logFormat: 'json',
      crmUrl: 'http://localhost:3001',
      inventoryUrl: 'http://localhost:3002',
      pollIntervalMs: 5000,
      httpTimeoutMs: 5000,
      backoffMaxMs: 60_000,
      crmWebhookSecret: undefined,
      longPollS: 0,
      deliveryConcurrency: 16,
      crmApiKey: undefined,
      inventoryApiKey: undefined,
      journeyRetentionDays: 30,
      traceUiUrl: undefined,
      inventoryRateLimit: undefined,
      breakerFailures: 5,
      breakerProbeMs: 5000,
    });
    expect(loadConfig({}, true).logFormat).toBe('pretty');
  });

  test('is frozen', () => {
    expect(Object.isFrozen(loadConfig({}, false))).toBe(true);
  });

  test('reads every variable', () => {
    expect(
      loadConfig(
        {
          PORT: '4000',
          HOST: '127.0.0.1',
          DB_PATH: '/tmp/x.db',
          DATABASE_URL: 'postgres://welcome:hunter2@db.example:5433/welcome',
          DATABASE_POOL_SIZE: '20',
          LOG_LEVEL: 'debug',
          LOG_FORMAT: 'pretty',
          CRM_URL: 'http://crm:3001/',
          INVENTORY_URL: 'https://inventory.example',
          POLL_INTERVAL_MS: '250',
          HTTP_TIMEOUT_MS: '900',
          BACKOFF_MAX_MS: '30000',
          CRM_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
          LONG_POLL_S: '25',
          DELIVERY_CONCURRENCY: '4',
          API_KEYS: 'key-one-0123456789, key-two-0123456789',
          CRM_API_KEY: 'crm-key-0123456789',
          INVENTORY_API_KEY: 'inventory-key-0123456789',
          RECONCILE_INTERVAL: '24h',
          JOURNEY_RETENTION_DAYS: '7',
          TRACE_UI_URL: 'http://localhost:16686/trace/{traceId}',
          INVENTORY_RATE_LIMIT: '12.5',
          BREAKER_FAILURES: '3',
          BREAKER_PROBE_INTERVAL: '10s',
        },
        false,
      ),
    ).toEqual({
      port: 4000,
      host: '127.0.0.1',
      apiKeys: ['key-one-0123456789', 'key-two-0123456789'],
      database: { kind: 'postgres', url: 'postgres://welcome:hunter2@db.example:5433/welcome', poolSize: 20 },
      logLevel: 'debug',
      logFormat: 'pretty',
      crmUrl: 'http://crm:3001',
      inventoryUrl: 'https://inventory.example',
      pollIntervalMs: 250,
      httpTimeoutMs: 900,
      backoffMaxMs: 30_000,
      crmWebhookSecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      longPollS: 25,
      deliveryConcurrency: 4,
      crmApiKey: 'crm-key-0123456789',
      inventoryApiKey: 'inventory-key-0123456789',
      reconcileIntervalMs: 86_400_000,
      journeyRetentionDays: 7,
      traceUiUrl: 'http://localhost:16686/trace/{traceId}',
      inventoryRateLimit: 12.5,
      breakerFailures: 3,
      breakerProbeMs: 10_000,
    });
  });

  test('reports every bad value at once, each naming its variable', () => {
    let error: unknown;
    try {
      loadConfig(
        { PORT: 'abc', CRM_URL: 'not a url', INVENTORY_URL: 'ftp://x', POLL_INTERVAL_MS: '0', LOG_LEVEL: 'loud' },
        false,
      );
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    for (const [name, index] of [
      ['PORT', 0],
      ['LOG_LEVEL', 1],
      ['CRM_URL', 2],
      ['INVENTORY_URL', 3],
      ['POLL_INTERVAL_MS', 4],
    ] as const) {
      expect(problems[index]).toMatch(new RegExp(`^${name}=`));
    }
  });

  test.each([['31'], ['-1'], ['soon']])('refuses LONG_POLL_S=%s', (seconds) => {
    expect(() => loadConfig({ LONG_POLL_S: seconds }, false)).toThrow(/^LONG_POLL_S=.*from 0 to 30/);
  });

  test.each([['0'], ['257'], ['many']])('refuses DELIVERY_CONCURRENCY=%s', (value) => {
    expect(() => loadConfig({ DELIVERY_CONCURRENCY: value }, false)).toThrow(/^DELIVERY_CONCURRENCY=.*from 1 to 256/);
  });

  test.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['7d', 604_800_000],
    ['off', undefined],
  ])('reads RECONCILE_INTERVAL=%s', (value, ms) => {
    expect(loadConfig({ RECONCILE_INTERVAL: value }, false).reconcileIntervalMs).toBe(ms);
  });

  test.each([['0s'], ['24'], ['1.5h'], ['366d'], ['daily'], ['500ms']])('refuses RECONCILE_INTERVAL=%s', (value) => {
    expect(() => loadConfig({ RECONCILE_INTERVAL: value }, false)).toThrow(/^RECONCILE_INTERVAL=.*s, m, h or d/);
  });

  test.each([['0'], ['3651'], ['1.5'], ['-1'], ['a month']])('refuses JOURNEY_RETENTION_DAYS=%s', (value) => {
    expect(() => loadConfig({ JOURNEY_RETENTION_DAYS: value }, false)).toThrow(
      /^JOURNEY_RETENTION_DAYS=.*from 1 to 3650/,
    );
  });

  test('reads JOURNEY_RETENTION_DAYS from 1 to 3650', () => {
    expect(loadConfig({ JOURNEY_RETENTION_DAYS: '1' }, false).journeyRetentionDays).toBe(1);
    expect(loadConfig({ JOURNEY_RETENTION_DAYS: '3650' }, false).journeyRetentionDays).toBe(3650);
  });

  test('keeps a TRACE_UI_URL as written, {traceId} included, wherever it stands', () => {
    for (const template of [
      'https://grafana.example/explore?traceId={traceId}&orgId=1',
      'http://zipkin:9411/zipkin/traces/{traceId}',
    ]) {
      expect(loadConfig({ TRACE_UI_URL: template }, false).traceUiUrl).toBe(template);
    }
  });

  test('refuses a TRACE_UI_URL without {traceId}, saying where it goes', () => {
    expect(() => loadConfig({ TRACE_UI_URL: 'http://localhost:16686/trace/' }, false)).toThrow(
      /^TRACE_UI_URL="http:\/\/localhost:16686\/trace\/" is not valid: expected \{traceId\} where the trace id goes, e\.g\. http:\/\/localhost:16686\/trace\/\{traceId\}$/,
    );
  });

  test.each([['/trace/{traceId}'], ['ftp://traces.example/{traceId}'], ['{traceId}']])(
    'refuses TRACE_UI_URL=%s, which is not an absolute http(s) URL',
    (value) => {
      expect(() => loadConfig({ TRACE_UI_URL: value }, false)).toThrow(
        /^TRACE_UI_URL=.*expected an absolute http:\/\/ or https:\/\/ URL/,
      );
    },
  );

  test('refuses a CRM_WEBHOOK_SECRET that is not whsec_ and base64', () => {
    expect(() => loadConfig({ CRM_WEBHOOK_SECRET: 'hunter2' }, false)).toThrow(
      /^CRM_WEBHOOK_SECRET is not valid: .*whsec_/,
    );
  });

  test.each([['70000'], ['-1'], ['3.5'], ['80 80']])('refuses the port %s', (port) => {
    expect(() => loadConfig({ PORT: port }, false)).toThrow(/^PORT=/);
  });

  test('refuses bad keys and secrets naming the variable, never the value', () => {
    let error: unknown;
    try {
      loadConfig(
        {
          API_KEYS: 'short,hunter2-but-long-enough',
          CRM_API_KEY: 'two words here and there',
          INVENTORY_API_KEY: 'a,b',
          CRM_WEBHOOK_SECRET: 'hunter2',
        },
        false,
      );
    } catch (caught) {
      error = caught;
    }
    const problems = (error as ConfigError).problems;
    expect(problems.map((problem) => problem.split(' ')[0])).toEqual([
      'API_KEYS',
      'CRM_WEBHOOK_SECRET',
      'CRM_API_KEY',
      'INVENTORY_API_KEY',
    ]);
    for (const value of ['short', 'hunter2', 'two words', 'a,b']) expect(problems.join('\n')).not.toContain(value);
  });

  test.each([
    ['not a URL', 'not a url with hunter2'],
    ['another scheme', 'mysql://root:hunter2@db/welcome'],
    ['no database name', 'postgres://root:hunter2@db:5432'],
  ])('refuses a DATABASE_URL that is %s, never showing its password', (_, url) => {
    let error: unknown;
    try {
      loadConfig({ DATABASE_URL: url, DATABASE_POOL_SIZE: '0' }, false);
    } catch (caught) {
      error = caught;
    }
    const problems = (error as ConfigError).problems;
    expect(problems).toEqual([
      expect.stringMatching(/^DATABASE_URL is not valid: expected /),
      expect.stringMatching(/^DATABASE_POOL_SIZE="0" is not valid/),
    ]);
    expect(problems.join('\n')).not.toContain('hunter2');
  });
});
