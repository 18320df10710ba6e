import { logLevels, type LogFormat } from './logger.js';

export type Env = Record<string, string | undefined>;

/** Every problem found in the environment at start, reported together. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Parser<T> = (raw: string) => T;

/** DATABASE_POOL_SIZE when not set. */
export const DEFAULT_POOL_SIZE = 10;

/** A DATABASE_URL as a log line or an error may show it: never its password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'DATABASE_URL';
  }
}

/** DATABASE_URL: `postgres://user:password@host:port/database`; the problem is told without the value. */
export function parseDatabaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('expected postgres://user:password@host:port/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`expected a postgres:// or postgresql:// URL, not ${url.protocol}//`);
  }
  if (url.hostname === '' && !url.searchParams.has('host'))
    throw new Error('expected a host: postgres://user:password@host:port/database');
  if (url.pathname.length <= 1)
    throw new Error('expected a database name: postgres://user:password@host:port/database');
  return raw;
}

/** Variables that hold keys or secrets: a problem with one names it without its value. */
const SECRET_VARIABLES = /(_KEYS?|_SECRET|^DATABASE_URL)$/;

/**
 * Reads variables one by one, collecting every problem instead of stopping at the first, so a
 * user fixes their environment in one go.
 */
export class EnvReader {
  private readonly problems: string[] = [];
  private readonly names = new Set<string>();

  constructor(private readonly env: Env) {}

  read<T>(name: string, fallback: T, parse: Parser<T>): T {
    this.names.add(name);
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    try {
      return parse(raw.trim());
    } catch (error) {
      // A secret's name is said, never its value.
      const shown = SECRET_VARIABLES.test(name) ? name : `${name}=${JSON.stringify(raw)}`;
      this.problems.push(`${shown} is not valid: ${(error as Error).message}`);
      return fallback;
    }
  }

  /** A rule across variables: when it does not hold, `problem` is reported with the rest. */
  check(holds: boolean, problem: string): void {
    if (!holds) this.problems.push(problem);
  }

  /** The variables this reader was asked for: the service's whole configuration surface. */
  variables(): string[] {
    return [...this.names];
  }

  /** Throws every problem found so far; otherwise returns the config frozen. */
  done<T extends object>(config: T): Readonly<T> {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
    return Object.freeze(config);
  }
}

export function parsePort(raw: string): number {
  if (!/^\d+$/.test(raw)) throw new Error('expected a whole number from 0 to 65535');
  const port = Number(raw);
  if (port > 65535) throw new Error('expected a whole number from 0 to 65535');
  return port;
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as `90s`, `30m`, `24h` or `7d`, from 1 s to 365 days, in milliseconds. */
export function parseDuration(raw: string): number {
  const match = /^(\d+)([smhd])$/.exec(raw);
  const ms = match ? Number(match[1]) * DURATION_UNITS[match[2]!]! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 1000 || ms > 365 * DURATION_UNITS.d!) {
    throw new Error('expected a whole number with s, m, h or d (from 1s to 365d, e.g. 24h), or off');
  }
  return ms;
}

export function parsePositiveInteger(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
    throw new Error('expected a whole number of 1 or more');
  }
  return Number(raw);
}

export function parseHttpUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('expected an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error('expected an absolute http:// or https:// URL');
  }
  return url.toString().replace(/\/+$/, '');
}

/** A Standard Webhooks secret, as the CRM and its subscribers share it: `whsec_` and base64. */
export const WEBHOOK_SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

export function parseWebhookSecret(raw: string): string {
  if (!WEBHOOK_SECRET_PATTERN.test(raw)) throw new Error('expected whsec_ followed by base64');
  return raw;
}

export function parseHost(raw: string): string {
  if (/\s/.test(raw)) throw new Error('expected a host name or address without spaces');
  return raw;
}

export function parseLogLevel(raw: string): string {
  if (!logLevels.includes(raw)) throw new Error(`expected one of ${logLevels.join(', ')}`);
  return raw;
}

export function parseLogFormat(raw: string): LogFormat {
  if (raw !== 'json' && raw !== 'pretty') throw new Error('expected json or pretty');
  return raw;
}

/** An API key: 16 to 256 visible ASCII characters, no comma (API_KEYS separates keys with commas). */
const API_KEY = /^[\x21-\x2b\x2d-\x7e]{16,256}$/;

/** API_KEYS: comma-separated keys, each 16 to 256 visible ASCII characters. */
export function parseApiKeys(raw: string): string[] {
  const keys = raw
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
  if (keys.length === 0 || keys.some((key) => !API_KEY.test(key))) {
    throw new Error('expected comma-separated keys, each 16 to 256 visible ASCII characters (no spaces)');
  }
  return keys;
}

/** CRM_API_KEY, INVENTORY_API_KEY: one key, as the upstream's API_KEYS has it. */
export function parseApiKey(raw: string): string {
  if (!API_KEY.test(raw))
    throw new Error('expected one key of 16 to 256 visible ASCII characters (no spaces or commas)');
  return raw;
}

/** Where a service keeps its data: a SQLite file (the default), or a PostgreSQL server (DATABASE_URL). */
export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; poolSize: number };

export interface CommonConfig {
  port: number;
  host: string;
  /** API_KEYS; empty when every route is open. */
  apiKeys: string[];
  database: DatabaseConfig;
  logLevel: string;
  logFormat: LogFormat;
}

/** The variables every service reads; `service` names the default database file. */
export function readCommonConfig(
  reader: EnvReader,
  service: string,
  defaultPort: number,
  isTty: boolean,
): CommonConfig {
  return {
    port: reader.read('PORT', defaultPort, parsePort),
    host: reader.read('HOST', '0.0.0.0', parseHost),
    apiKeys: reader.read('API_KEYS', [], parseApiKeys),
    database: readDatabaseConfig(reader, service),
    logLevel: reader.read('LOG_LEVEL', 'info', parseLogLevel),
    logFormat: reader.read<LogFormat>('LOG_FORMAT', isTty ? 'pretty' : 'json', parseLogFormat),
  };
}

/** DATABASE_URL selects PostgreSQL (pooled, DATABASE_POOL_SIZE connections); without it, DB_PATH and SQLite. */
function readDatabaseConfig(reader: EnvReader, service: string): DatabaseConfig {
  const path = reader.read('DB_PATH', `data/${service}.db`, (raw) => raw);
  const url = reader.read<string | undefined>('DATABASE_URL', undefined, parseDatabaseUrl);
  const poolSize = reader.read('DATABASE_POOL_SIZE', DEFAULT_POOL_SIZE, parsePositiveInteger);
  return url === undefined ? { kind: 'sqlite', path } : { kind: 'postgres', url, poolSize };
}
