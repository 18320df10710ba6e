import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

type Operation = { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> };
type Document = { paths: Record<string, Record<string, Operation>>; components?: unknown };

export interface Observed {
  method: string;
  path: string;
  status: number;
  contentType: string;
  body: unknown;
}

/**
 * Holds real responses against an OpenAPI document: each must be documented (route, method,
 * status, content type) and its JSON body must match the documented schema. It remembers which
 * operations were exercised, so a test can demand that every one was.
 */
export class ContractChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly called = new Set<string>();
  private readonly routes: Array<{ template: string; pattern: RegExp }>;

  constructor(private readonly document: Document) {
    (addFormats as unknown as (ajv: Ajv2020) => void)(this.ajv);
    this.routes = Object.keys(document.paths).map((template) => ({
      template,
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
  }

  /** The problems with one response; empty when it matches the document. */
  check(observed: Observed): string[] {
    const path = new URL(observed.path, 'http://x').pathname;
    const route = this.routes.find((r) => r.pattern.test(path));
    const what = `${observed.method} ${observed.path} → ${observed.status}`;
    if (!route) return [`${what}: no documented route`];
    const operation = this.document.paths[route.template]?.[observed.method.toLowerCase()];
    if (!operation) return [`${what}: method not documented on ${route.template}`];
    this.called.add(`${observed.method.toUpperCase()} ${route.template}`);
    const response = operation.responses[String(observed.status)];
    if (!response) return [`${what}: status not documented`];
    if (!response.content && observed.body === '') return [];
    const mediaType = observed.contentType.split(';')[0]!.trim();
    const content = response.content?.[mediaType];
    if (!content) return [`${what}: content type ${mediaType} not documented (${Object.keys(response.content ?? {}).join(', ')})`];
    if (!mediaType.endsWith('json') || content.schema === undefined) return [];
    const validate = this.ajv.compile({ ...(content.schema as object), components: this.document.components });
    return validate(observed.body) ? [] : [`${what}: ${this.ajv.errorsText(validate.errors)}`];
  }

  /** Documented operations no response has exercised yet. */
  uncovered(): string[] {
    return Object.entries(this.document.paths)
      .flatMap(([template, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${template}`))
      .filter((operation) => !this.called.has(operation));
  }
}

/** Sends a request and reads the answer the way the checker wants it. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  rawBody?: { type: string; data: string; headers?: Record<string, string> },
): Promise<Observed> {
  const init: RequestInit = { method };
  if (rawBody) init.body = rawBody.data;
  if (rawBody) init.headers = { 'Content-Type': rawBody.type, ...rawBody.headers };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'Content-Type': 'application/json' };
  }
  const response = await fetch(`${base}${path}`, init);
  const contentType = response.headers.get('content-type') ?? '';
  const text = await response.text();
  return { method, path, status: response.status, contentType, body: contentType.includes('json') ? JSON.parse(text) : text };
}
