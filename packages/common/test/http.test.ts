import { describe, expect, test } from '@jest/globals';
import Router from '@koa/router';
import request from 'supertest';
import {
  AppError,
  createRegistry,
  createServiceApp,
  createSilentLogger,
  createStorageGuard,
  openDatabase,
} from '../src/index.js';
import { captureLogs } from '../../../test/support/logs.js';

function appThatThrows(error: unknown) {
  const router = new Router();
  router.get('/boom', () => {
    throw error;
  });
  const { logger, lines } = captureLogs();
  const app = createServiceApp({
    logger,
    router,
    registry: createRegistry('test'),
    readiness: [],
    openapi: { paths: {} },
  });
  return { http: request(app.callback()), lines };
}

describe('the problem middleware', () => {
  test('an unexpected error is a plain 500 problem; its stack goes to the log, never to the client', async () => {
    const { http, lines } = appThatThrows(new Error('secret internals'));
    const response = await http.get('/boom');
    expect(response.status).toBe(500);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body).toEqual({
      type: '/problems/internal-error',
      title: 'Internal Server Error',
      status: 500,
      detail: 'The server failed to answer this request; the error is in its log.',
    });
    expect(response.text).not.toContain('secret internals');
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'error', error: expect.stringContaining('secret internals') }),
    );
  });

  test('an AppError is rendered with its status, code, detail, field errors and headers', async () => {
    const error = new AppError(409, 'taken', 'It is taken.', {
      errors: [{ field: 'email', message: 'taken' }],
      headers: { 'Retry-After': '5' },
    });
    const response = await appThatThrows(error).http.get('/boom');
    expect(response.status).toBe(409);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.body).toEqual({
      type: '/problems/taken',
      title: 'Conflict',
      status: 409,
      detail: 'It is taken.',
      errors: [{ field: 'email', message: 'taken' }],
    });
  });
});

describe('storage failures are answers, not crashes', () => {
  const failing = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });

  test('ENOSPC from anything a route writes is a 507 problem with Retry-After', async () => {
    const { http, lines } = appThatThrows(failing('ENOSPC'));
    const response = await http.get('/boom');
    expect(response.status).toBe(507);
    expect(response.headers['retry-after']).toBe('30');
    expect(response.body).toMatchObject({
      type: '/problems/insufficient-storage',
      title: 'Insufficient Storage',
      status: 507,
    });
    expect(lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  test.each(['SQLITE_BUSY', 'SQLITE_IOERR_WRITE'])(
    '%s in a guarded write is a 503 the client may retry at once',
    (code) => {
      const db = openDatabase(':memory:');
      const guard = createStorageGuard(db, createSilentLogger());
      let thrown: unknown;
      try {
        guard.write('test', () => {
          throw failing(code);
        });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(AppError);
      expect(thrown).toMatchObject({ status: 503, code: 'storage-unavailable', headers: { 'Retry-After': '1' } });
      expect(guard.readiness()).toBeUndefined();
    },
  );
});
