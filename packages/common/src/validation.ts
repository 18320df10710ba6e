import { z } from 'zod';
import { validationFailed, type FieldError } from './errors.js';

/**
 * A person's name as every service accepts it: trimmed, then 1 to 200 characters (code points,
 * not UTF-16 units), stored exactly as given otherwise.
 */
export const personName = z
  .string({ error: 'must be a string' })
  .trim()
  .refine((value) => value.length > 0, 'must not be empty')
  .refine((value) => [...value].length <= 200, 'must be at most 200 characters')
  // What the refinements say, for the OpenAPI documents (a JSON Schema cannot run a function).
  .meta({
    // After trimming (JavaScript's trim(), the same whitespace as \s), 1 to 200 code points.
    pattern: '^\\s*\\S(?:[\\s\\S]{0,198}\\S)?\\s*$',
    description:
      '1 to 200 characters (Unicode code points) once leading and trailing whitespace is trimmed; ' +
      'only whitespace is refused. Stored trimmed, otherwise exactly as sent.',
    examples: ['Alice'],
  });

function valueAt(body: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((value, key) => (value as Record<PropertyKey, unknown> | null | undefined)?.[key], body);
}

function toFieldErrors(error: z.ZodError, body: unknown): FieldError[] {
  return error.issues.flatMap((issue): FieldError[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: key, message: 'is not an accepted field' }));
    }
    const field = issue.path.join('.');
    if (issue.code === 'invalid_type' && field === '') return [{ field, message: 'the body must be a JSON object' }];
    if (issue.code === 'invalid_type' && valueAt(body, issue.path) === undefined)
      return [{ field, message: 'is required' }];
    return [{ field, message: issue.message }];
  });
}

/** Parses a request body with a strict schema, or throws a 400 naming every bad field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body);
  if (!result.success) throw validationFailed(toFieldErrors(result.error, body));
  return result.data;
}

/** Reads a path parameter that must be a positive whole number (an id), or throws a 400. */
export function parseIdParam(raw: string | undefined, field = 'id'): number {
  const value = Number(raw);
  if (raw === undefined || !/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw validationFailed([{ field, message: 'must be a positive whole number' }]);
  }
  return value;
}
