import {
  bodyProblems,
  idParameter,
  json,
  linkHeader,
  locationHeader,
  openApiDocument,
  pageParameters,
  personNameSchema,
  problem,
  storageProblems,
} from '@welcome/common';

export const crmOpenApi = openApiDocument({
  title: 'CRM',
  description: 'Customers. Ids are given by the CRM, strictly increasing in commit order and never reused: `after=` is a safe cursor.',
  port: 3001,
  schemas: {
    Customer: {
      type: 'object',
      required: ['id', 'name', 'email', 'createdAt'],
      properties: {
        id: { type: 'integer', minimum: 1 },
        name: { type: 'string' },
        email: { type: 'string', format: 'email' },
        createdAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    NewCustomer: {
      type: 'object',
      required: ['name', 'email'],
      properties: {
        name: personNameSchema,
        email: { type: 'string', format: 'email', maxLength: 254, description: 'Unique without regard to case.', examples: ['alice@example.com'] },
      },
      additionalProperties: false,
    },
  },
  paths: {
    '/customers': {
      post: {
        tags: ['customers'],
        summary: 'Register a customer',
        operationId: 'createCustomer',
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/NewCustomer' } } } },
        responses: {
          '201': json('Registered, and committed', { $ref: '#/components/schemas/Customer' }, locationHeader('/customers/{id}')),
          ...bodyProblems,
          '409': problem('The email is taken (case does not matter).', 'email-taken'),
          ...storageProblems,
        },
      },
      get: {
        tags: ['customers'],
        summary: 'List customers by id, keyset-paged',
        operationId: 'listCustomers',
        parameters: pageParameters,
        responses: {
          '200': json('A page of customers', { type: 'array', items: { $ref: '#/components/schemas/Customer' } }, linkHeader),
          '400': problem('A bad after or limit.', 'validation-failed'),
        },
      },
    },
    '/customers/{id}': {
      get: {
        tags: ['customers'],
        summary: 'One customer',
        operationId: 'getCustomer',
        parameters: [idParameter('The customer id')],
        responses: {
          '200': json('The customer', { $ref: '#/components/schemas/Customer' }),
          '400': problem('The id is not a positive whole number.', 'validation-failed'),
          '404': problem('No such customer.', 'not-found'),
        },
      },
    },
  },
});
