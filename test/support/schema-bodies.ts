import fc from 'fast-check';

/**
 * Request bodies made from a request body's JSON Schema as an OpenAPI document serves it: bodies
 * it allows and bodies it forbids, each rule read from the schema (type, required, minimum,
 * maximum, maxLength, pattern, additionalProperties), none typed again here.
 */

export interface FieldSchema {
  type?: 'string' | 'integer' | 'number' | 'boolean';
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  examples?: unknown[];
  default?: unknown;
  description?: string;
}

export interface ObjectSchema {
  type: 'object';
  properties: Record<string, FieldSchema>;
  required?: string[];
  additionalProperties?: boolean;
}

export type Body = Record<string, unknown>;

/** A forbidden body and the rule it breaks, for the report of a failure. */
export interface Forbidden {
  rule: string;
  body: unknown;
}

/** JSON Schema's patterns are ECMA-262 regular expressions; ajv and the routes read them with the u flag. */
const patternOf = (field: FieldSchema) => (field.pattern ? new RegExp(field.pattern, 'u') : undefined);
const codePoints = (text: string) => [...text].length;

function fitsString(field: FieldSchema, value: string): boolean {
  return (
    (field.maxLength === undefined || codePoints(value) <= field.maxLength) && (patternOf(field)?.test(value) ?? true)
  );
}

/** The document's own values of a field: its examples and its default. */
const documented = (field: FieldSchema) => [
  ...(field.examples ?? []),
  ...(field.default === undefined ? [] : [field.default]),
];

/**
 * Values the field's schema allows. A field with a `format` (an annotation in OpenAPI 3.1, whose
 * meaning the document tells in words) or whose rules the document states in words only
 * (`inWords`) takes the document's own values: its examples and default. Undefined when the
 * document gives no value it allows.
 */
export function allowedValue(field: FieldSchema, inWords = false): fc.Arbitrary<unknown> | undefined {
  const own = documented(field);
  const ownValues = own.length > 0 ? [fc.constantFrom(...own)] : [];
  if (field.format !== undefined || inWords) return ownValues.length > 0 ? fc.oneof(...ownValues) : undefined;
  const min = field.minimum ?? Number.MIN_SAFE_INTEGER;
  const max = field.maximum ?? Number.MAX_SAFE_INTEGER;
  switch (field.type) {
    case 'integer':
      return fc.oneof(fc.constantFrom(min, max), fc.integer({ min, max }), ...ownValues);
    case 'number':
      return fc.oneof(fc.constantFrom(min, max), fc.double({ min, max, noNaN: true }), ...ownValues);
    case 'boolean':
      return fc.boolean();
    case 'string': {
      const pattern = patternOf(field);
      const strings = pattern
        ? fc.stringMatching(pattern, { size: 'large' })
        : fc.string({ maxLength: field.maxLength });
      return fc.oneof(
        strings.filter((value) => fitsString(field, value)),
        ...ownValues,
      );
    }
    default:
      return undefined;
  }
}

const JSON_VALUES = [null, true, false, 0, 1, -1, 1.5, '', 'text', [], [1], {}, { a: 1 }];
const hasType = (field: FieldSchema, value: unknown) =>
  field.type === 'integer' ? Number.isInteger(value) : typeof value === field.type;

/** `value` stretched past `length` code points, with its own last character (else x), never blank. */
const stretched = (value: string, beyond: number) => {
  const last = [...value].at(-1) ?? 'x';
  return value + (/\s/.test(last) ? 'x' : last).repeat(Math.max(1, beyond + 1 - codePoints(value)));
};

/** Values the field's schema forbids, each with the rule it breaks. */
export function forbiddenValue(field: FieldSchema): fc.Arbitrary<Forbidden> {
  const rules: Array<fc.Arbitrary<Forbidden>> = [];
  const wrong = JSON_VALUES.filter((value) => !hasType(field, value));
  if (field.type) rules.push(fc.constantFrom(...wrong).map((body) => ({ rule: `not of type ${field.type}`, body })));
  if (field.type === 'integer' || field.type === 'number') {
    const { minimum, maximum } = field;
    if (minimum !== undefined)
      rules.push(fc.integer({ min: -(2 ** 40), max: minimum - 1 }).map((body) => ({ rule: `below ${minimum}`, body })));
    if (maximum !== undefined)
      rules.push(fc.constantFrom(maximum + 1, maximum * 2, 1e300).map((body) => ({ rule: `above ${maximum}`, body })));
    if (field.type === 'integer')
      rules.push(
        fc
          .double({ min: minimum ?? -1e9, max: maximum ?? 1e9, noNaN: true })
          .filter((value) => !Number.isInteger(value))
          .map((body) => ({ rule: 'not a whole number', body })),
      );
  }
  if (field.type === 'string') {
    const allowed = allowedValue(field, field.format !== undefined) ?? fc.constant('');
    const pattern = patternOf(field);
    if (field.maxLength !== undefined) {
      const longest = field.maxLength;
      rules.push(
        fc
          .tuple(allowed, fc.nat(40))
          .map(([value, more]) => ({ rule: `longer than ${longest}`, body: stretched(String(value), longest + more) })),
      );
    }
    if (pattern) rules.push(notMatching(pattern, allowed).map((body) => ({ rule: `not matching ${pattern}`, body })));
  }
  return fc.oneof(...rules);
}

/** Strings `pattern` does not match: blank ones, any, and allowed ones grown or with a character put in. */
function notMatching(pattern: RegExp, allowed: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  const text = allowed.map(String);
  return fc
    .oneof(
      fc.stringMatching(/^\s*$/),
      fc.string(),
      // Grown to at most 1,000 code points: longer bodies would meet the routes' size limit (413) first.
      fc
        .tuple(text, fc.integer({ min: 2, max: 300 }))
        .map(([value, times]) => [...value.repeat(times)].slice(0, 1000).join('')),
      fc
        .tuple(text, fc.nat(), fc.string({ minLength: 1, maxLength: 2 }))
        .map(
          ([value, at, put]) => value.slice(0, at % (value.length + 1)) + put + value.slice(at % (value.length + 1)),
        ),
    )
    .filter((value) => !pattern.test(value));
}

/**
 * Bodies the schema allows: every required property and some of the others, each with a value
 * `allowedValue` gives. A property with no allowed value is left out (it must then be optional).
 */
export function allowedBody(schema: ObjectSchema, inWords: string[] = []): fc.Arbitrary<Body> {
  const required = schema.required ?? [];
  const entries = Object.entries(schema.properties).flatMap(([name, field]) => {
    const value = allowedValue(field, inWords.includes(name));
    if (!value && required.includes(name)) throw new Error(`the document allows no value of the required ${name}`);
    return value ? [[name, value] as const] : [];
  });
  const present = entries.map(([name]) => name).filter((name) => required.includes(name));
  return fc.record(Object.fromEntries(entries), { requiredKeys: present });
}

/** Bodies the schema forbids: not an object, a required property missing, one it does not know, or one wrong. */
export function forbiddenBody(schema: ObjectSchema, inWords: string[] = []): fc.Arbitrary<Forbidden> {
  const allowed = allowedBody(schema, inWords);
  const names = Object.keys(schema.properties);
  const rules: Array<fc.Arbitrary<Forbidden>> = [
    fc.constantFrom<unknown>(null, [], 'text', 1, true).map((body) => ({ rule: 'not an object', body })),
    fc
      .constantFrom(...names)
      .chain((name) =>
        fc
          .tuple(allowed, forbiddenValue(schema.properties[name]!))
          .map(([body, wrong]) => ({ rule: `${name} ${wrong.rule}`, body: { ...body, [name]: wrong.body } })),
      ),
  ];
  for (const name of schema.required ?? [])
    rules.push(allowed.map(({ [name]: _left, ...body }) => ({ rule: `${name} missing`, body })));
  if (schema.additionalProperties === false)
    rules.push(
      fc
        .tuple(
          allowed,
          fc.string({ minLength: 1 }).filter((key) => !names.includes(key) && key !== '__proto__'),
          fc.jsonValue(),
        )
        .map(([body, key, value]) => ({ rule: `${key} is not a property`, body: { ...body, [key]: value } })),
    );
  return fc.oneof(...rules);
}
