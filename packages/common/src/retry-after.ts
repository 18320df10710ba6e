/** The longest wait a Retry-After is taken at: beyond it, a mistaken header would stop delivery for days. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

type Headers = Record<string, string | string[] | undefined>;

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value)?.trim();

/**
 * How long a 429 or 503 asks to be left alone (RFC 9110, 10.2.3): whole seconds, or an HTTP date,
 * read against the answer's own Date header when it has one, so that a clock of ours that is off
 * does not lengthen or shorten the wait; at most MAX_RETRY_AFTER_MS. Undefined for any other
 * answer, or a header that is neither.
 */
export function retryAfterOf(response: { statusCode: number; headers: Headers }): number | undefined {
  if (response.statusCode !== 429 && response.statusCode !== 503) return undefined;
  const value = first(response.headers['retry-after']);
  if (!value) return undefined;
  let ms: number;
  if (/^\d+$/.test(value)) ms = Number(value) * 1000;
  else {
    // An HTTP date names its day and month in words; anything else Date.parse takes ('-1') is not one.
    const at = /[a-z]{3}/i.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(at)) return undefined;
    const said = Date.parse(first(response.headers.date) ?? '');
    ms = at - (Number.isNaN(said) ? Date.now() : said);
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}
