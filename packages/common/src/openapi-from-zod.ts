import { z } from 'zod';
import { personName } from './validation.js';

/**
 * A request body's schema for the OpenAPI documents, made from the zod schema that validates it
 * (its input side: what a client sends), so that a rule is written once. What a refinement checks
 * is told by the schema's `.meta()`.
 */
export function schemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...jsonSchema } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  return jsonSchema;
}

/**
 * The components of an OpenAPI document, by name, made from zod schemas: what a client sends
 * (`input`) or what a service answers (`output`, the default). A schema named here and used inside
 * another is a `$ref` to its component; one not named is written out where it is used.
 */
export function componentSchemas(
  named: Record<string, z.ZodType>,
  io: 'input' | 'output' = 'output',
): Record<string, Record<string, unknown>> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io,
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, { $schema: _dialect, $id: _id, ...schema }]) => [id, schema]),
  );
}

/** The OpenAPI face of `personName` (validation.ts): the same rule, for names and customer names. */
export const personNameSchema = schemaOf(personName);
