export interface FieldError {
  field: string;
  message: string;
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

export function titleFor(status: number): string {
  return titles[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

/** The problem type of a stable error code, resolved against the service's own origin. */
export function problemType(code: string): string {
  return `/problems/${code}`;
}

/**
 * The one error every layer throws on purpose: it carries the HTTP status and a stable code, and
 * the problem middleware renders it as RFC 9457 Problem Details.
 */
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  /** Members the problem document carries beyond the standard ones (RFC 9457, section 3.2). */
  readonly extensions: Record<string, unknown>;

  constructor(
    status: number,
    code: string,
    detail: string,
    options: {
      errors?: FieldError[];
      headers?: Record<string, string>;
      extensions?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    super(detail, { cause: options.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }

  toProblem(): ProblemDocument & Record<string, unknown> {
    return {
      type: problemType(this.code),
      title: titleFor(this.status),
      status: this.status,
      detail: this.detail,
      ...(this.errors ? { errors: this.errors } : {}),
      ...this.extensions,
    };
  }
}

export function validationFailed(errors: FieldError[]): AppError {
  const detail = errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ');
  return new AppError(400, 'validation-failed', `The request is not valid: ${detail}`, { errors });
}

export function notFound(detail: string): AppError {
  return new AppError(404, 'not-found', detail);
}

export function conflict(code: string, detail: string): AppError {
  return new AppError(409, code, detail);
}

/**
 * The database could not be opened or is not this service's: the service must not start.
 * The message says what, where and what to do, in one line.
 */
export class DatabaseOpenError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'DatabaseOpenError';
  }
}
