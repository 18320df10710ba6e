import { trace } from '@opentelemetry/api';
import winston from 'winston';
import { isTracing } from './tracing.js';

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

/**
 * Control characters (newlines, carriage returns, terminal escapes) written as escapes, so that
 * text from a client (a name, a path) cannot start a line of its own or repaint the terminal:
 * one event is one line. The JSON format escapes them already.
 */
export function printable(text: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  return text.replace(
    // eslint-disable-next-line no-control-regex -- the control characters are what it escapes
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (char) => named[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const pretty = winston.format.printf((info) => {
  const { level, message, timestamp, service, stack, ...fields } = info;
  const rest = Object.entries(fields)
    .filter(([key]) => typeof key === 'string')
    .map(
      ([key, value]) =>
        `${printable(key)}=${printable(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)))}`,
    )
    .join(' ');
  const lines = [
    `${String(timestamp)} ${level} [${String(service)}] ${printable(String(message))}${rest ? `  ${rest}` : ''}`,
  ];
  // A stack keeps its lines, indented, so that none of them can pass for an event of its own.
  if (typeof stack === 'string') lines.push(...stack.split('\n').map((line) => `    ${printable(line)}`));
  return lines.join('\n');
});

/**
 * JSON escapes every control character but U+2028 and U+2029, which some log viewers break
 * lines at: those are escaped too, so a JSON line is one line everywhere.
 */
const MESSAGE = Symbol.for('message');
const oneLine = winston.format((info) => {
  const line = (info as unknown as Record<symbol, unknown>)[MESSAGE];
  if (typeof line === 'string')
    (info as unknown as Record<symbol, unknown>)[MESSAGE] = line
      .replace(/\u2028/g, '\\u2028')
      .replace(/\u2029/g, '\\u2029');
  return info;
});

/** A line written inside a span carries its trace_id and span_id, so a trace viewer and the log meet. */
const traceFields = winston.format((info) => {
  const span = isTracing() ? trace.getActiveSpan() : undefined;
  if (span) {
    const { traceId, spanId } = span.spanContext();
    info.trace_id = traceId;
    info.span_id = spanId;
  }
  return info;
});

export function createLogger(options: LoggerOptions): Logger {
  const format = options.format ?? 'json';
  return winston.createLogger({
    level: options.level ?? 'info',
    defaultMeta: { service: options.service },
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      winston.format.timestamp(),
      traceFields(),
      format === 'pretty'
        ? winston.format.combine(winston.format.colorize(), pretty)
        : winston.format.combine(winston.format.json(), oneLine()),
    ),
    transports: [
      options.stream ? new winston.transports.Stream({ stream: options.stream }) : new winston.transports.Console(),
    ],
  });
}

/** A logger that writes nothing, for component tests that do not read the log. */
export function createSilentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
