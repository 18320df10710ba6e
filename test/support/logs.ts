import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@welcome/common';

export interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

/** A real winston logger whose JSON lines a test can read back. */
export function captureLogs(service = 'test'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: createLogger({ service, level: 'debug', format: 'json', stream }), lines };
}
