import winston from 'winston';

export type Logger = winston.Logger;
export type LogFormat = 'json' | 'pretty';

export const logLevels = Object.keys(winston.config.npm.levels);

export interface LoggerOptions {
  service: string;
  level?: string;
  format?: LogFormat;
  /** Where lines go; stdout unless a test wants them. */
  stream?: NodeJS.WritableStream;
}

const pretty = winston.format.printf((info) => {
  const { level, message, timestamp, service, stack, ...fields } = info;
  const rest = Object.entries(fields)
    .filter(([key]) => typeof key === 'string')
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  const lines = [`${String(timestamp)} ${level} [${String(service)}] ${String(message)}${rest ? `  ${rest}` : ''}`];
  if (typeof stack === 'string') lines.push(stack);
  return lines.join('\n');
});

export function createLogger(options: LoggerOptions): Logger {
  const format = options.format ?? 'json';
  return winston.createLogger({
    level: options.level ?? 'info',
    defaultMeta: { service: options.service },
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      winston.format.timestamp(),
      format === 'pretty' ? winston.format.combine(winston.format.colorize(), pretty) : winston.format.json(),
    ),
    transports: [
      options.stream
        ? new winston.transports.Stream({ stream: options.stream })
        : new winston.transports.Console(),
    ],
  });
}

/** A logger that writes nothing, for component tests that do not read the log. */
export function createSilentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
