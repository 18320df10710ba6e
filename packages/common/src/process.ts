import type Koa from 'koa';
import { ConfigError, type CommonConfig } from './config.js';
import {
  closeServiceDatabase,
  describeDatabase,
  openServiceDatabase,
  type ServiceDatabase,
  type ServiceSchema,
} from './service-database.js';
import { boundPort, closeServer, listen } from './http.js';
import { createLogger, type Logger } from './logger.js';
import { stopTelemetry } from './telemetry.js';

export interface RunningService {
  logger: Logger;
  /** Stops taking work, finishes what is in flight, closes the server and the database. */
  stop(): Promise<void>;
}

function fail(service: string, message: string): never {
  process.stderr.write(`${service}: ${message}\n`);
  process.exit(1);
}

/**
 * The life of a service process: configuration problems and start failures end it with one line
 * each (no stack trace); SIGTERM or SIGINT stop it cleanly once, and it exits 0.
 */
export async function runService<C>(
  service: string,
  loadConfig: () => C,
  start: (config: C) => Promise<RunningService>,
): Promise<void> {
  let config: C;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) process.stderr.write(`${service}: configuration error: ${problem}\n`);
      process.exit(1);
    }
    throw error;
  }

  let running: RunningService;
  try {
    running = await start(config);
  } catch (error) {
    fail(service, `could not start: ${(error as Error).message}`);
  }

  let stopping = false;
  const stopOn = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    running.logger.info(`Received ${signal}; finishing the work in flight and shutting down`, { signal });
    running
      .stop()
      .then(stopTelemetry)
      .then(
        () => {
          running.logger.info('Shut down cleanly');
          process.exitCode = 0;
          // Whatever still holds the event loop (a client's keep-alive socket) must not keep us up.
          setTimeout(() => process.exit(0), 2000).unref();
        },
        (error: unknown) => {
          running.logger.error('Shutdown failed', { error: (error as Error).stack });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stopOn);
  process.on('SIGINT', stopOn);
}

/** Whether a listen address takes connections from this machine only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export interface ServiceParts {
  app: Koa;
  /** Called once the port is bound: background work starts here, and the service is announced once it has. */
  start?: () => void | Promise<void>;
  /** Called first on shutdown, before the server closes: background work finishes here. */
  stop?: () => Promise<void>;
}

/**
 * What every index.ts does: a logger, the database (SQLite or PostgreSQL, its schema migrated),
 * the app built from them, the port bound, and a stop that undoes it all in reverse order.
 */
export async function startService(
  service: string,
  config: CommonConfig,
  schema: ServiceSchema,
  build: (database: ServiceDatabase, logger: Logger) => ServiceParts,
): Promise<RunningService> {
  const logger = createLogger({ service, level: config.logLevel, format: config.logFormat });
  const database = await openServiceDatabase(config.database, { service, logger, schema });
  const parts = build(database, logger);
  const server = await listen(parts.app, config.port, config.host);
  const port = boundPort(server);
  // Background work first (the CRM's WEBHOOK_URL endpoint is in place before its first customer).
  await parts.start?.();
  logger.info(`Listening on http://${config.host}:${port}`, { port, database: describeDatabase(database) });
  if (config.apiKeys.length === 0 && !isLoopback(config.host)) {
    logger.warn(
      `Listening on ${config.host}, beyond this machine, without API_KEYS: ` +
        `anyone who can reach port ${port} can use every route. ` +
        'Set API_KEYS (see the README, Security) unless a proxy in front admits only you.',
      { host: config.host, port },
    );
  }
  return {
    logger,
    stop: async () => {
      await parts.stop?.();
      await closeServer(server);
      await closeServiceDatabase(database);
    },
  };
}
