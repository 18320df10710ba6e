import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

type Header = { required?: boolean; schema?: unknown; $ref?: string };
type Response = {
  $ref?: string;
  description?: string;
  content?: Record<string, { schema?: unknown }>;
  headers?: Record<string, Header>;
};
type Operation = { responses: Record<string, Response> };
type Document = {
  paths: Record<string, Record<string, Operation>>;
  components?: { responses?: Record<string, Response>; headers?: Record<string, Header> } & Record<string, unknown>;
};

export interface Observed {
  method: string;
  path: string;
  status: number;
  contentType: string;
  body: unknown;
  /** Response headers, names in lower case; a checker given none checks no headers. */
  headers?: Record<string, string>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * Holds real responses against an OpenAPI document: each must be documented (route, method,
 * status, content type, and the headers it marks required), its JSON body must match the
 * documented schema and each documented header it carries must match its schema. A method a
 * documented path does not list must be answered with the document's MethodNotAllowed (405,
 * `Allow` naming exactly the path's methods), a path the document does not list with its
 * NotFound. The checker remembers which operations were exercised, so a test can demand that
 * every one was.
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
    if (!route) {
      const notFound = this.document.components?.responses?.NotFound;
      if (observed.status !== 404 || !notFound) return [`${what}: no documented route`];
      return this.against(notFound, observed, what);
    }
    const methods = this.document.paths[route.template]!;
    const operation = methods[observed.method.toLowerCase()];
    if (!operation) {
      const notAllowed = this.document.components?.responses?.MethodNotAllowed;
      if (observed.status !== 405 || !notAllowed) return [`${what}: method not documented on ${route.template}`];
      const listed = Object.keys(methods).filter((method) => METHODS.includes(method));
      const allowed = (observed.headers?.allow ?? '').split(',').map((method) => method.trim().toLowerCase());
      // HEAD comes with GET.
      const expected = [...listed, ...(listed.includes('get') && !listed.includes('head') ? ['head'] : [])].sort();
      const problems = this.against(notAllowed, observed, what);
      if (observed.headers && allowed.sort().join() !== expected.join())
        problems.push(`${what}: Allow is "${observed.headers.allow ?? ''}", not ${expected.join(', ')}`);
      return problems;
    }
    this.called.add(`${observed.method.toUpperCase()} ${route.template}`);
    const response = operation.responses[String(observed.status)];
    if (!response) return [`${what}: status not documented`];
    return this.against(response, observed, what);
  }

  /** Documented operations no response has exercised yet. */
  uncovered(): string[] {
    return Object.entries(this.document.paths)
      .flatMap(([template, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${template}`))
      .filter((operation) => !this.called.has(operation));
  }

  private resolve<T extends { $ref?: string }>(item: T): T {
    if (!item.$ref) return item;
    const target = item.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], this.document);
    if (target === undefined) throw new Error(`The document refers to ${item.$ref}, which it does not have`);
    return this.resolve(target as T);
  }

  private matches(schema: unknown, value: unknown): string | undefined {
    const validate = this.ajv.compile({ ...(schema as object), components: this.document.components });
    return validate(value) ? undefined : this.ajv.errorsText(validate.errors);
  }

  private against(documented: Response, observed: Observed, what: string): string[] {
    const response = this.resolve(documented);
    const problems = observed.headers ? this.headerProblems(response, observed.headers, what) : [];
    if (!response.content && observed.body === '') return problems;
    const mediaType = observed.contentType.split(';')[0]!.trim();
    const content = response.content?.[mediaType];
    if (!content)
      return [
        ...problems,
        `${what}: content type ${mediaType} not documented (${Object.keys(response.content ?? {}).join(', ')})`,
      ];
    if (!mediaType.endsWith('json') || content.schema === undefined) return problems;
    const wrong = this.matches(content.schema, observed.body);
    return wrong ? [...problems, `${what}: ${wrong}`] : problems;
  }

  private headerProblems(response: Response, headers: Record<string, string>, what: string): string[] {
    return Object.entries(response.headers ?? {}).flatMap(([name, documented]) => {
      const header = this.resolve(documented);
      const value = headers[name.toLowerCase()];
      if (value === undefined) return header.required ? [`${what}: required header ${name} missing`] : [];
      if (header.schema === undefined) return [];
      // A header is text; a number schema holds its value read as a number.
      const type = (header.schema as { type?: unknown }).type;
      const typed = type === 'integer' || type === 'number' ? Number(value) : value;
      const wrong = this.matches(header.schema, typed);
      return wrong ? [`${what}: header ${name} "${value}": ${wrong}`] : [];
    });
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
  return {
    method,
    path,
    status: response.status,
    contentType,
    body: contentType.includes('json') && text !== '' ? JSON.parse(text) : text,
    headers: Object.fromEntries([...(response.headers as unknown as Iterable<[string, string]>)]),
  };
}
