import { describe, expect, test } from '@jest/globals';
import { MAX_RETRY_AFTER_MS, retryAfterOf } from '../src/retry-after.js';

describe('Retry-After (RFC 9110, 10.2.3)', () => {
  test('whole seconds, on a 429 or a 503', () => {
    expect(retryAfterOf({ statusCode: 429, headers: { 'retry-after': '2' } })).toBe(2000);
    expect(retryAfterOf({ statusCode: 503, headers: { 'retry-after': ' 5 ' } })).toBe(5000);
    expect(retryAfterOf({ statusCode: 503, headers: { 'retry-after': ['7', '9'] } })).toBe(7000);
  });

  test('an HTTP date, read against the answer’s own Date so that our clock being off changes nothing', () => {
    const headers = { 'retry-after': 'Wed, 21 Oct 2015 07:28:30 GMT', date: 'Wed, 21 Oct 2015 07:28:00 GMT' };
    expect(retryAfterOf({ statusCode: 429, headers })).toBe(30_000);
    const now = Date.now();
    const inTen = new Date(now + 10_000).toUTCString();
    expect(retryAfterOf({ statusCode: 503, headers: { 'retry-after': inTen } })).toBeGreaterThan(8000);
    expect(retryAfterOf({ statusCode: 503, headers: { 'retry-after': inTen } })).toBeLessThanOrEqual(10_000);
  });

  test('a date in the past is no wait; one beyond an hour is an hour', () => {
    const headers = { 'retry-after': 'Wed, 21 Oct 2015 07:27:00 GMT', date: 'Wed, 21 Oct 2015 07:28:00 GMT' };
    expect(retryAfterOf({ statusCode: 429, headers })).toBe(0);
    expect(retryAfterOf({ statusCode: 429, headers: { 'retry-after': '86400' } })).toBe(MAX_RETRY_AFTER_MS);
  });

  test('nothing for another status, no header, or one that is neither seconds nor a date', () => {
    expect(retryAfterOf({ statusCode: 500, headers: { 'retry-after': '2' } })).toBeUndefined();
    expect(retryAfterOf({ statusCode: 429, headers: {} })).toBeUndefined();
    expect(retryAfterOf({ statusCode: 429, headers: { 'retry-after': 'soon' } })).toBeUndefined();
    expect(retryAfterOf({ statusCode: 429, headers: { 'retry-after': '-1' } })).toBeUndefined();
    expect(retryAfterOf({ statusCode: 429, headers: { 'retry-after': '1.5' } })).toBeUndefined();
  });
});
