import pg from 'pg';
import { redactUrl } from './config.js';
import { AppError, type FieldError } from './errors.js';
import type { Logger } from './logger.js';
import { listenForNotifications } from './postgres-listen.js';

/** How long a request waits for a connection from the pool (or a new one) before it is answered 503. */
const ACQUIRE_TIMEOUT_MS = 3000;

/** How long one statement may take before its connection is given up and the request answered 503. */
const QUERY_TIMEOUT_MS = 10_000;

/** Seconds a client is told to wait when the database cannot be reached. */
export const DATABASE_RETRY_AFTER_S = 5;

/** Names that are safe to write into SQL unquoted: a schema, a channel. */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

const codeOf = (error: unknown): string => String((error as { code?: unknown } | null)?.code ?? '');

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);
const UNREACHABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connection error|Connection ended|Client was closed|not queryable|the database system is (starting up|shutting down|in recovery)/i;

/**
 * True when the database could not be asked at all, or went away while it was asked: a server
 * that is down, restarting, refusing connections, in recovery or too slow to answer. These are
 * conditions to answer with 503, never a 500, and they end by themselves.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  const code = codeOf(error);
  if (UNREACHABLE_CODES.has(code)) return true;
  // SQLSTATE 08 connection exception, 57P0x shutdown or crash, 53300 too many connections,
  // 57014 a statement cancelled (timeout), 25006 a read-only standby after a failover.
  if (code.startsWith('08') || /^57P0\d$/.test(code) || code === '53300' || code === '57014' || code === '25006')
    return true;
  return error instanceof Error && UNREACHABLE_MESSAGES.test(error.message);
}

/** A request that needed the database while it could not be reached: 503 with Retry-After, nothing stored. */
export class DatabaseUnavailableError extends AppError {
  constructor(cause?: unknown) {
    const reason = codeOf(cause) || (cause instanceof Error ? cause.message : 'no answer');
    super(
      503,
      'database-unavailable',
      `The database cannot be reached just now (${reason}); nothing was stored. Try again shortly.`,
      {
        headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_S) },
        cause,
      },
    );
    this.name = 'DatabaseUnavailableError';
  }
}

/** True for the error PostgreSQL raises when a UNIQUE index refuses a row. */
export function isPostgresUniqueViolation(error: unknown): boolean {
  return codeOf(error) === '23505';
}

/** What a statement can be run on: the pool, or one transaction's connection. */
export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<R[]>;
}

export interface Postgres extends Queryable {
  /** The schema (namespace) this service's tables live in; the search path of every connection. */
  readonly schema: string;
  /** Where the database is, for logs and errors: the URL without its password. */
  readonly where: string;
  /** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** For /ready: names the database while it cannot be reached. */
  readiness(): Promise<FieldError | undefined>;
  /**
   * Calls `onNotify` with the payload of each NOTIFY on `channel` (a name in this service's
   * schema), on a connection of its own that comes back by itself after the server does;
   * `onReconnect` is called each time it does, since notifications sent meanwhile were missed.
   */
  listen(channel: string, onNotify: (payload: string) => void, onReconnect?: () => void): { close(): Promise<void> };
  /** A channel name of this service's: schemas sharing one server never hear each other. */
  channel(name: string): string;
  close(): Promise<void>;
}

export interface PostgresOptions {
  url: string;
  poolSize: number;
  schema: string;
  logger: Logger;
  /** Session settings of every connection (`-c name=value`). */
  settings?: Readonly<Record<string, string>>;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
}

/** int8 (COUNT, BIGINT ids) as numbers: ids stay below 2^53, as the API says. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * A pool of connections to a PostgreSQL server, every one with the service's schema as its
 * search path. Waiting for a connection and each statement have a timeout, so a server that is
 * gone costs a request a few seconds at most; every such failure becomes a DatabaseUnavailableError
 * (503), and the log says once when the database became unreachable and once when it is back.
 */
export function connectPostgres(options: PostgresOptions): Postgres {
  if (!IDENTIFIER.test(options.schema)) throw new Error(`not a schema name: ${options.schema}`);
  const where = redactUrl(options.url);
  const { logger, schema } = options;
  const config = poolConfigOf(options);
  const pool = new pg.Pool(config);
  const outages = createOutageGuard(where, logger);
  // An idle connection the server dropped (a restart) is reported here; the pool replaces it.
  pool.on('error', (error) => {
    if (isDatabaseUnavailable(error)) outages.wentAway(error);
    else
      logger.warn('An idle database connection failed; the pool replaces it', {
        database: where,
        error: error.message,
      });
  });

  return {
    schema,
    where,
    query: (text, values) => outages.guarded(() => rowsOf(pool.query(text, values as unknown[]))),
    transaction: (work) => outages.guarded(() => inTransaction(pool, work)),
    readiness: () => readinessOf(pool, outages, where),
    channel: (name) => `${schema}_${name}`,
    listen(channel, onNotify, onReconnect) {
      if (!IDENTIFIER.test(channel)) throw new Error(`not a channel name: ${channel}`);
      return listenForNotifications(config, channel, onNotify, onReconnect);
    },
    close: () => pool.end(),
  };
}

function poolConfigOf(options: PostgresOptions): pg.PoolConfig {
  return {
    connectionString: options.url,
    max: options.poolSize,
    connectionTimeoutMillis: ACQUIRE_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: options.applicationName ?? options.schema,
    options: [
      `-c search_path=${options.schema}`,
      ...Object.entries(options.settings ?? {}).map(([name, value]) => `-c ${name}=${value}`),
    ].join(' '),
    types,
  };
}

interface OutageGuard {
  /** Runs `attempt`, turning a database that cannot be reached into a 503. */
  guarded<T>(attempt: () => Promise<T>): Promise<T>;
  /** Logs that the database cannot be reached, once until it answers again. */
  wentAway(error: unknown): void;
}

/** Tells the log once when the database became unreachable, and once when it is back. */
function createOutageGuard(where: string, logger: Logger): OutageGuard {
  let unreachableSince: Date | undefined;
  const wentAway = (error: unknown) => {
    if (unreachableSince !== undefined) return;
    unreachableSince = new Date();
    logger.error(
      `The database at ${where} cannot be reached (${codeOf(error) || (error as Error).message}): ` +
        'requests that need it are answered 503 until it is back',
      {
        database: where,
        error: (error as Error).message,
      },
    );
  };
  const cameBack = () => {
    if (unreachableSince === undefined) return;
    const seconds = Math.round((Date.now() - unreachableSince.getTime()) / 100) / 10;
    unreachableSince = undefined;
    logger.info(`The database at ${where} answers again, after ${seconds} s`, { database: where, seconds });
  };
  const guarded = async <T>(attempt: () => Promise<T>): Promise<T> => {
    try {
      const result = await attempt();
      cameBack();
      return result;
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      wentAway(error);
      throw error instanceof DatabaseUnavailableError ? error : new DatabaseUnavailableError(error);
    }
  };
  return { guarded, wentAway };
}

const rowsOf = async <R extends object>(run: Promise<pg.QueryResult>): Promise<R[]> => (await run).rows as R[];

/** Runs `work` between BEGIN and COMMIT on one connection of the pool, rolled back when it throws. */
async function inTransaction<T>(pool: pg.Pool, work: (tx: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // While a connection is checked out the pool does not listen for its errors: one the server ends
  // between two statements (a restart) would otherwise crash the process. Its next statement fails.
  const ended = (error: Error) => (broken = error);
  client.on('error', ended);
  try {
    await client.query('BEGIN');
    const result = await work({ query: (text, values) => rowsOf(client.query(text, values as unknown[])) });
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // A connection that failed mid-transaction is not given back to the pool.
    if (isDatabaseUnavailable(error)) broken = error as Error;
    else await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
    throw error;
  } finally {
    client.removeListener('error', ended);
    client.release(broken);
  }
}

async function readinessOf(pool: pg.Pool, outages: OutageGuard, where: string): Promise<FieldError | undefined> {
  try {
    await outages.guarded(() => pool.query('SELECT 1'));
    return undefined;
  } catch (error) {
    return {
      field: 'database',
      message: `the database at ${where} cannot be reached: ${(error as Error).message}`,
    };
  }
}
