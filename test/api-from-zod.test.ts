import { describe, expect, test } from '@jest/globals';
import { z } from 'zod';
import { personName, schemaOf, type OpenApiDocument } from '@welcome/common';
import { crmOpenApi } from '../crm/src/http/openapi.js';
import { newCustomerBody } from '../crm/src/http/routes.js';
import { newEndpointBody } from '../crm/src/http/webhook-routes.js';
import { inventoryOpenApi } from '../inventory/src/http/openapi.js';
import { packageRequestBody } from '../inventory/src/http/routes.js';
import { middlewareOpenApi } from '../middleware/src/http/openapi.js';
import { reconcileBody } from '../middleware/src/http/routes.js';

const schemasOf = (document: OpenApiDocument) => (document.components as { schemas: Record<string, unknown> }).schemas;

describe('each request body is described once, by the zod schema that validates it', () => {
  test.each([
    ['CRM', 'NewCustomer', crmOpenApi, newCustomerBody],
    ['CRM', 'NewWebhookEndpoint', crmOpenApi, newEndpointBody],
    ['Inventory', 'PackageRequest', inventoryOpenApi, packageRequestBody],
    ['middleware', 'NewReconciliation', middlewareOpenApi, reconcileBody],
  ] as const)('%s: the document’s %s is its route’s zod schema', (_, name, document, body) => {
    expect(schemasOf(document)[name]).toEqual(schemaOf(body));
  });

  test('a rule changed in zod shows in the schema the document is made of', () => {
    const stricter = newCustomerBody.extend({
      name: personName.optional(),
      email: z.string().trim().max(100, 'must be at most 100 characters').pipe(z.email()),
    });
    const before = schemaOf(newCustomerBody) as {
      required: string[];
      properties: Record<string, { maxLength?: number }>;
    };
    const after = schemaOf(stricter) as typeof before;
    expect([before.required, before.properties.email!.maxLength]).toEqual([['name', 'email'], 254]);
    expect([after.required, after.properties.email!.maxLength]).toEqual([['email'], 100]);
  });

  test('what a refinement checks is told by its meta: a person’s name has its pattern and its description', () => {
    expect(schemaOf(personName)).toEqual({
      type: 'string',
      pattern: '^\\s*\\S(?:[\\s\\S]{0,198}\\S)?\\s*$',
      description: expect.stringMatching(/^1 to 200 characters \(Unicode code points\)/),
      examples: ['Alice'],
    });
  });
});
