import { describe, expect, test } from '@jest/globals';
import Router from '@koa/router';
import request from 'supertest';
import { AppError, createRegistry, createServiceApp } from '../src/index.js';
import { captureLogs } from '../../../test/support/logs.js';

function appThatThrows(error: unknown) {
  const router = new Router();
  router.get('/boom', () => {
    throw error;
  });
  const { logger, lines } = captureLogs();
  const app = createServiceApp({ logger, router, registry: createRegistry('test'), readiness: [], openapi: { paths: {} } });
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
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', error: expect.stringContaining('secret internals') }));
  });

  test('an AppError is rendered with its status, code, detail, field errors and headers', async () => {
    const error = new AppError(409, 'taken', 'It is taken.', { errors: [{ field: 'email', message: 'taken' }], headers: { 'Retry-After': '5' } });
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
