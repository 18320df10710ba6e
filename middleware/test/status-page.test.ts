import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import ts from 'typescript';
import { createSilentLogger } from '@welcome/common';
import { createApp } from '../src/app.js';
import { middlewareSchema } from '../src/store/schema.js';
import { wireMiddleware } from '../src/wiring.js';
import { sqliteAt } from '../../test/support/databases.js';

const inMiddleware = (path: string) => fileURLToPath(new URL(path, new URL('../', import.meta.url)));

/** The middleware with nothing behind it: the page's routes ask no upstream. */
const middleware = () =>
  request(
    createApp(
      wireMiddleware({
        database: sqliteAt(middlewareSchema),
        logger: createSilentLogger(),
        crmUrl: 'http://127.0.0.1:9',
        inventoryUrl: 'http://127.0.0.1:9',
        timeoutMs: 100,
        retryDelayMs: 0,
      }),
    ).callback(),
  );

/** middleware/web/status-page.ts compiled with its own tsconfig.json, as `npm run build` does. */
function compiledScript(): string {
  const config = ts.getParsedCommandLineOfConfigFile(
    inMiddleware('web/tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  if (!config) throw new Error('middleware/web/tsconfig.json cannot be read');
  return ts.transpileModule(readFileSync(inMiddleware('web/status-page.ts'), 'utf8'), {
    compilerOptions: config.options,
    fileName: 'status-page.ts',
  }).outputText;
}

describe('the status page is served from its files', () => {
  test('GET / answers middleware/public/status-page.html byte for byte, as HTML', async () => {
    const response = await middleware().get('/');

    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(Buffer.from(response.text).equals(readFileSync(inMiddleware('public/status-page.html')))).toBe(true);
  });

  test('GET /assets/status-page.css answers middleware/public/status-page.css byte for byte, as CSS', async () => {
    const response = await middleware().get('/assets/status-page.css');

    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(Buffer.from(response.text).equals(readFileSync(inMiddleware('public/status-page.css')))).toBe(true);
  });

  test('GET /assets/status-page.js answers middleware/web/status-page.ts compiled, as a plain script', async () => {
    const response = await middleware().get('/assets/status-page.js');

    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/javascript; charset=utf-8');
    expect(response.text).toBe(readFileSync(inMiddleware('dist/web/status-page.js'), 'utf8'));
    // A stale build (the source changed since `npm run build`) fails here.
    expect(response.text).toBe(compiledScript());
    expect(response.text).not.toMatch(/^\s*(import|export)\b/m);
    expect(response.text).not.toContain('sourceMappingURL');
  });
});
