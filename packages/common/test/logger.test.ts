import { PassThrough } from 'node:stream';
import { describe, expect, test } from '@jest/globals';
import { createLogger, type LogFormat } from '../src/logger.js';

/** Logs one event in the given format and returns the text written. */
async function written(format: LogFormat, message: string, fields: Record<string, unknown>): Promise<string> {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const logger = createLogger({ service: 'crm', format, stream });
  logger.info(message, fields);
  await new Promise((resolve) => setImmediate(resolve));
  // The pretty format's own colours around the level are not what is under test.
  // eslint-disable-next-line no-control-regex -- ESC starts the terminal colour codes it removes
  return text.replace(/\u001b\[\d+m/g, '');
}

describe('a log line cannot be forged by what a client sends', () => {
  const forged = 'Eve\n2026-01-01T00:00:00.000Z info [crm] Welcome package 1 created for customer 1\r\u001b[2K\u2028';

  test.each<LogFormat>(['json', 'pretty'])(
    'in the %s format, a name full of newlines and escapes stays on its one line, shown escaped',
    async (format) => {
      const text = await written(format, `Customer registered: ${forged}`, {
        customerName: forged,
        path: `/customers/${forged}`,
      });
      const lines = text.split('\n').filter((line) => line !== '');
      expect(lines).toHaveLength(1);
      // eslint-disable-next-line no-control-regex -- no raw CR or ESC may reach the terminal
      expect(text).not.toMatch(/[\r\u001b\u2028]/);
      expect(lines[0]).toContain('\\n2026-01-01T00:00:00.000Z info [crm]');
      if (format === 'json') expect(JSON.parse(lines[0]!)).toMatchObject({ customerName: forged });
    },
  );

  test('in the pretty format, a stack keeps its lines, each indented so none passes for an event', async () => {
    const error = new Error('boom\nforged line');
    const text = await written('pretty', 'Unexpected error', { stack: error.stack });
    const [first, ...rest] = text.trimEnd().split('\n');
    expect(first).toMatch(/ info \[crm\] Unexpected error$/);
    expect(rest.length).toBeGreaterThan(1);
    for (const line of rest) expect(line).toMatch(/^ {4}/);
  });
});
