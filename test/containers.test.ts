import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { parse } from 'yaml';
import { createSilentLogger, tracesWanted, type Env } from '@welcome/common';
import { createApp as createCrm } from '../crm/src/app.js';
import { loadConfig as loadCrmConfig } from '../crm/src/config.js';
import { crmSchema } from '../crm/src/store/schema.js';
import { createApp as createInventory } from '../inventory/src/app.js';
import { loadConfig as loadInventoryConfig } from '../inventory/src/config.js';
import { inventorySchema } from '../inventory/src/store/schema.js';
import { createApp as createMiddleware } from '../middleware/src/app.js';
import { loadConfig as loadMiddlewareConfig } from '../middleware/src/config.js';
import { middlewareSchema } from '../middleware/src/store/schema.js';
import { wireMiddleware } from '../middleware/src/wiring.js';
import { sqliteAt } from './support/databases.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A service of a compose file, as far as these tests read it. */
interface ComposeService {
  image: string;
  build: unknown;
  ports: string[];
  environment: Record<string, string>;
  volumes: string[];
  depends_on: Record<string, { condition: string }>;
  healthcheck: { test: string[] };
  networks: { default: { aliases: string[] } };
}

/** A compose file that declares the services `S`; any other name may be absent. */
interface ComposeFile<S extends string> {
  services: Record<S, ComposeService> & Partial<Record<string, ComposeService>>;
}

/** A compose file that declares named volumes too. */
interface ComposeFileWithVolumes<S extends string> extends ComposeFile<S> {
  volumes: Record<string, unknown>;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as ComposeFileWithVolumes<Name>;

/** The variables a config module reads, found by handing it an environment that records each look-up. */
function variablesRead(load: (env: Env, isTty: boolean) => unknown): string[] {
  const read = new Set<string>();
  load(new Proxy({}, { get: (_, name) => (read.add(String(name)), undefined) }), false);
  return [...read].sort();
}

const client = { baseUrl: 'http://127.0.0.1:9', timeoutMs: 100, retryDelayMs: 0, logger: createSilentLogger() };
const services = {
  crm: {
    load: loadCrmConfig,
    app: () => createCrm({ database: sqliteAt(crmSchema), logger: createSilentLogger() }),
  },
  inventory: {
    load: loadInventoryConfig,
    app: () => createInventory({ database: sqliteAt(inventorySchema), logger: createSilentLogger() }),
  },
  middleware: {
    load: loadMiddlewareConfig,
    app: () =>
      createMiddleware(
        wireMiddleware({
          database: sqliteAt(middlewareSchema),
          logger: createSilentLogger(),
          crmUrl: client.baseUrl,
          inventoryUrl: client.baseUrl,
          timeoutMs: client.timeoutMs,
          retryDelayMs: 0,
        }),
      ),
  },
};
type Name = keyof typeof services;
const names = Object.keys(services) as Name[];
const defaultPort = (name: Name) => services[name].load({}, false).port;

/** The path a healthcheck command fetches: from a whole URL, or a quoted path joined to a port. */
const healthPathOf = (command: string) => /(?:https?:\/\/[^/'"]+|')(\/[\w/-]+)/.exec(command)?.[1];

describe('docker-compose.yml agrees with the code', () => {
  test('declares exactly the three services', () => {
    expect(Object.keys(compose.services).sort()).toEqual([...names].sort());
  });

  test.each(names)(
    '%s: built from the one Dockerfile, the repository root as context, given its name and port',
    (name) => {
      const args = { SERVICE: name, PORT: String(defaultPort(name)) };
      expect(compose.services[name].build).toEqual({ context: '.', args });
      expect(existsSync(join(ROOT, 'Dockerfile'))).toBe(true);
    },
  );

  test.each(names)('%s: publishes the port its config listens on', (name) => {
    const port = defaultPort(name);
    expect(compose.services[name].ports).toEqual([`${port}:${port}`]);
    expect(compose.services[name].environment.PORT).toBe(String(port));
  });

  test.each(names)('%s: sets only variables its config reads, each to a value it accepts', (name) => {
    const environment = compose.services[name].environment as Record<string, string>;
    const read = variablesRead(services[name].load);
    expect(Object.keys(environment).filter((variable) => !read.includes(variable))).toEqual([]);
    expect(() => services[name].load(environment, false)).not.toThrow();
  });

  test.each(names)('%s: keeps its database in a named volume', (name) => {
    const database = services[name].load(compose.services[name].environment, false).database;
    const [volume, mountedAt] = String(compose.services[name].volumes[0]).split(':');
    expect(database.kind).toBe('sqlite');
    expect(mountedAt).toBe(dirname(database.kind === 'sqlite' ? database.path : ''));
    expect(Object.keys(compose.volumes)).toContain(volume);
  });

  test.each(names)('%s: has a healthcheck on its readiness route', async (name) => {
    const command = (compose.services[name].healthcheck.test as string[]).join(' ');
    expect(command).toContain(`:${defaultPort(name)}/`);
    const path = healthPathOf(command);
    expect(path).toBe('/ready');
    // In this test the middleware's upstreams are unreachable, so it is rightly not ready.
    expect((await request(services[name].app().callback()).get(path!)).status).toBe(name === 'middleware' ? 503 : 200);
  });

  test('the middleware reaches the upstreams by their service names and waits for them to be healthy', () => {
    const middleware = compose.services.middleware;
    const config = loadMiddlewareConfig(middleware.environment, false);
    expect(config.crmUrl).toBe(`http://crm:${defaultPort('crm')}`);
    expect(config.inventoryUrl).toBe(`http://inventory:${defaultPort('inventory')}`);
    expect(middleware.depends_on).toEqual({
      crm: { condition: 'service_healthy' },
      inventory: { condition: 'service_healthy' },
    });
  });

  test(
    "the CRM's webhook points at the middleware's receiver, " +
      'both with the one development secret make run uses too',
    () => {
      const crm = loadCrmConfig(compose.services.crm.environment, false);
      const middleware = loadMiddlewareConfig(compose.services.middleware.environment, false);
      expect(crm.webhook?.url).toBe(`http://middleware:${defaultPort('middleware')}/webhooks/crm`);
      expect(crm.webhook?.secret).toBe(middleware.crmWebhookSecret);
      const makefileSecret = /^DEV_WEBHOOK_SECRET := (\S+)$/m.exec(readFileSync(join(ROOT, 'Makefile'), 'utf8'))?.[1];
      expect(makefileSecret).toBe(middleware.crmWebhookSecret);
    },
  );

  test('every service logs for people under compose', () => {
    for (const name of names)
      expect(services[name].load(compose.services[name].environment, false).logFormat).toBe('pretty');
  });

  const hasCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
  if (!hasCompose && process.env.CI) {
    test('docker-compose is installed in CI to validate the file', () => {
      throw new Error('docker-compose is missing: .ci/run must install it (apt-get install docker-compose)');
    });
  }
  (hasCompose ? test : test.skip)(
    'is a valid compose file (docker-compose config -q; skipped where docker-compose is not installed)',
    () => {
      expect(() =>
        execFileSync('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), 'config', '-q'], { stdio: 'pipe' }),
      ).not.toThrow();
    },
  );
});

describe('docker-compose.postgres.yml puts every service on PostgreSQL', () => {
  const override = parse(readFileSync(join(ROOT, 'docker-compose.postgres.yml'), 'utf8'), {
    merge: true,
  }) as ComposeFileWithVolumes<Name | 'postgres' | 'middleware-2'>;
  const postgres = override.services.postgres;

  test('runs the official postgres image with a named volume and a pg_isready healthcheck', () => {
    expect(postgres.image).toMatch(/^postgres:\d+$/);
    const [volume, mountedAt] = String(postgres.volumes[0]).split(':');
    expect(mountedAt).toBe('/var/lib/postgresql/data');
    expect(Object.keys(override.volumes)).toContain(volume);
    expect(postgres.healthcheck.test.join(' ')).toContain('pg_isready');
  });

  test.each([...names, 'middleware-2' as const])(
    '%s: on DATABASE_URL, the server’s own database and user, once the server is healthy',
    (name) => {
      const service = override.services[name];
      const load = services[name === 'middleware-2' ? 'middleware' : (name as Name)].load;
      const environment = { ...(compose.services[name]?.environment ?? {}), ...service.environment };
      const database = load(environment, false).database;
      expect(database.kind).toBe('postgres');
      const url = new URL(database.kind === 'postgres' ? database.url : '');
      expect([url.hostname, url.username, url.password, url.pathname]).toEqual([
        'postgres',
        postgres.environment.POSTGRES_USER,
        postgres.environment.POSTGRES_PASSWORD,
        `/${postgres.environment.POSTGRES_DB}`,
      ]);
      expect(service.depends_on.postgres).toEqual({ condition: 'service_healthy' });
    },
  );

  test(
    'the second middleware replica is the first one again: same image, same settings, ' +
      'and the name the CRM sends webhooks to',
    () => {
      const first = { ...compose.services.middleware, ...override.services.middleware };
      const second = override.services['middleware-2'];
      expect(second.build).toEqual(first.build);
      const { DB_PATH: _path, ...settings } = {
        ...compose.services.middleware.environment,
        ...override.services.middleware.environment,
      };
      expect(second.environment).toEqual(settings);
      expect(second.depends_on).toEqual(first.depends_on);
      expect(second.networks.default.aliases).toEqual(['middleware']);
      expect(second.healthcheck.test).toEqual(first.healthcheck.test);
    },
  );

  const hasCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
  (hasCompose ? test : test.skip)(
    'is a valid override of docker-compose.yml ' +
      '(docker-compose config -q; skipped where docker-compose is not installed)',
    () => {
      const files = ['-f', join(ROOT, 'docker-compose.yml'), '-f', join(ROOT, 'docker-compose.postgres.yml')];
      expect(() => execFileSync('docker-compose', [...files, 'config', '-q'], { stdio: 'pipe' })).not.toThrow();
    },
  );
});

describe('docker-compose.tracing.yml sends the traces of every service to Jaeger', () => {
  const override = parse(readFileSync(join(ROOT, 'docker-compose.tracing.yml'), 'utf8'), {
    merge: true,
  }) as ComposeFile<Name | 'jaeger'>;
  const jaeger = override.services.jaeger;

  test('runs a pinned Jaeger all-in-one with its UI on 16686 and its OTLP receiver on', () => {
    expect(jaeger.image).toMatch(/^jaegertracing\/all-in-one:\d+\.\d+\.\d+$/);
    expect(jaeger.ports).toEqual(['16686:16686']);
    expect(jaeger.environment.COLLECTOR_OTLP_ENABLED).toBe('true');
  });

  test.each(names)('%s exports its traces to it over OTLP/HTTP, and starts after it', (name) => {
    const environment = { ...compose.services[name].environment, ...override.services[name].environment } as Env;
    expect(tracesWanted(environment)).toBe(true);
    expect(environment.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://jaeger:4318');
    expect(environment.OTEL_EXPORTER_OTLP_PROTOCOL).toBe('http/protobuf');
    expect(() => services[name].load(environment, false)).not.toThrow();
    expect(override.services[name].depends_on.jaeger).toEqual({ condition: 'service_started' });
  });

  test("the middleware's journeys link to their trace in Jaeger's UI", () => {
    const config = loadMiddlewareConfig(
      { ...compose.services.middleware.environment, ...override.services.middleware.environment },
      false,
    );
    expect(config.traceUiUrl).toBe('http://localhost:16686/trace/{traceId}');
  });

  const hasCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
  (hasCompose ? test : test.skip)(
    'is a valid override of docker-compose.yml ' +
      '(docker-compose config -q; skipped where docker-compose is not installed)',
    () => {
      const files = ['-f', join(ROOT, 'docker-compose.yml'), '-f', join(ROOT, 'docker-compose.tracing.yml')];
      expect(() => execFileSync('docker-compose', [...files, 'config', '-q'], { stdio: 'pipe' })).not.toThrow();
    },
  );
});

// The Dockerfile itself, parsed and built for each service: test/dockerfile.test.ts.

test('.dockerignore keeps local installs, builds and databases out of the build context', () => {
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', 'data', '**/*.db']));
});
