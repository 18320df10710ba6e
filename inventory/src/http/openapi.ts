import {
  afterParameter,
  bodyProblems,
  componentSchemas,
  idParameter,
  json,
  limitParameter,
  linkHeader,
  locationHeader,
  MAX_ID,
  openApiDocument,
  notFoundAnswer,
  problem,
  storageProblems,
} from '@welcome/common';
import { welcomePackageSchema } from '../domain/model.js';
import { PACKAGE_ORDERS } from '../domain/packages.js';
import { packageRequestBody } from './routes.js';

export const inventoryOpenApi = openApiDocument({
  title: 'Inventory',
  description: 'Welcome packages: one per customer. Asking again for the same customer and name is a safe retry.',
  tags: [{ name: 'packages', description: 'Welcome packages, one per customer.' }],
  schemas: {
    ...componentSchemas({ Package: welcomePackageSchema }),
    ...componentSchemas({ PackageRequest: packageRequestBody }, 'input'),
  },
  paths: {
    '/packages': {
      post: {
        tags: ['packages'],
        summary: "Request a customer's welcome package (idempotent)",
        operationId: 'requestPackage',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/PackageRequest' } } },
        },
        responses: {
          '201': json(
            'Created, and committed',
            { $ref: '#/components/schemas/Package' },
            locationHeader('/packages/{id}'),
          ),
          '200': json('The customer already had this package (same name): nothing new stored', {
            $ref: '#/components/schemas/Package',
          }),
          ...bodyProblems,
          '409': problem('The customer already has a package under another name.', 'customer-has-package'),
          ...storageProblems,
        },
      },
      get: {
        tags: ['packages'],
        summary: 'List packages by id or by customer id, keyset-paged',
        operationId: 'listPackages',
        parameters: [
          {
            name: 'orderBy',
            in: 'query',
            description:
              'The order of the list and of its pages: `id` (package id) or `customerId`, ascending. ' +
              'A customer has at most one package, so either order walks every package once. ' +
              'The `Link` to the next page keeps it.',
            schema: { type: 'string', enum: [...PACKAGE_ORDERS], default: 'id' },
          },
          afterParameter(
            'Only packages whose key in the chosen order is greater than this (keyset paging): ' +
              'the package id under `orderBy=id`, the customerId under `orderBy=customerId`.',
          ),
          limitParameter,
          {
            name: 'customerId',
            in: 'query',
            description: "Only this customer's package.",
            schema: { type: 'integer', minimum: 1, maximum: MAX_ID },
          },
        ],
        responses: {
          '200': json(
            'A page of packages',
            { type: 'array', items: { $ref: '#/components/schemas/Package' } },
            linkHeader,
          ),
          '400': problem('A bad after, limit, customerId or orderBy.', 'validation-failed'),
        },
      },
    },
    '/packages/{id}': {
      get: {
        tags: ['packages'],
        summary: 'One package',
        operationId: 'getPackage',
        parameters: [idParameter('The package id')],
        responses: {
          '200': json('The package', { $ref: '#/components/schemas/Package' }),
          '400': problem('The id is not a positive whole number.', 'validation-failed'),
          '404': notFoundAnswer('No such package.'),
        },
      },
    },
  },
});
