import {
  bodyProblems,
  idParameter,
  json,
  linkHeader,
  locationHeader,
  openApiDocument,
  pageParameters,
  schemaOf,
  notFoundAnswer,
  problem,
  storageProblems,
} from '@welcome/common';
import { MAX_BATCH_SIZE } from '../domain/webhooks.js';
import { newCustomerBody } from './routes.js';
import { BATCH_SIZE_DESCRIPTION, newEndpointBody } from './webhook-routes.js';

const ENDPOINT_ID = idParameter('The webhook endpoint id');

const batchSize = { type: 'integer', minimum: 1, maximum: MAX_BATCH_SIZE, description: BATCH_SIZE_DESCRIPTION };

export const crmOpenApi = openApiDocument({
  title: 'CRM',
  description:
    'Customers. Ids are given by the CRM, strictly increasing in commit order and never reused: `after=` is a safe ' +
    'cursor. Subscribers learn of new customers by signed webhooks (Standard Webhooks) or by long polling (`wait=`).',
  tags: [
    { name: 'customers', description: 'Register customers and read them back; long polling for new ones.' },
    { name: 'webhooks', description: 'Subscribers to customer.created, and the log of what was sent to each.' },
  ],
  schemas: {
    Customer: {
      type: 'object',
      required: ['id', 'name', 'email', 'createdAt'],
      properties: {
        id: { type: 'integer', minimum: 1 },
        name: { type: 'string' },
        email: { type: 'string', format: 'email' },
        createdAt: { type: 'string', format: 'date-time' },
        traceparent: {
          type: 'string',
          pattern: '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$',
          description:
            'The W3C trace context the customer was created in, present when the CRM records traces ' +
            '(OTEL_EXPORTER_OTLP_ENDPOINT): the middleware continues that trace when it delivers the customer, by ' +
            'webhook or by poll.',
        },
      },
      additionalProperties: false,
    },
    WebhookEndpoint: {
      type: 'object',
      description: 'A subscriber. Its secret is shown only in the answer to its creation.',
      required: ['id', 'url', 'batchSize', 'createdAt'],
      properties: {
        id: { type: 'integer', minimum: 1 },
        url: { type: 'string', format: 'uri', maxLength: 2048 },
        batchSize,
        createdAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    CreatedWebhookEndpoint: {
      type: 'object',
      required: ['id', 'url', 'secret', 'batchSize', 'createdAt'],
      properties: {
        id: { type: 'integer', minimum: 1 },
        url: { type: 'string', format: 'uri', maxLength: 2048 },
        secret: {
          type: 'string',
          pattern: '^whsec_',
          description: 'Keep it: the HMAC key of every webhook-signature sent to this endpoint.',
        },
        batchSize,
        createdAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    NewWebhookEndpoint: schemaOf(newEndpointBody),
    WebhookMessage: {
      type: 'object',
      description:
        'One event for one endpoint. Sent as `{ type, timestamp, data }` with the Standard Webhooks headers ' +
        '`webhook-id` (`msg_` + id, the same on every attempt), `webhook-timestamp` and `webhook-signature`; to an ' +
        'endpoint whose batchSize is above 1, within a batch.',
      required: [
        'id',
        'eventType',
        'customerId',
        'status',
        'attempts',
        'lastAttemptAt',
        'lastStatus',
        'lastError',
        'nextAttemptAt',
      ],
      properties: {
        id: { type: 'integer', minimum: 1 },
        eventType: { const: 'customer.created' },
        customerId: { type: 'integer', minimum: 1 },
        status: { enum: ['pending', 'delivered', 'failed'] },
        attempts: { type: 'integer', minimum: 0 },
        lastAttemptAt: { type: ['string', 'null'], format: 'date-time' },
        lastStatus: {
          type: ['integer', 'null'],
          description: "The subscriber's HTTP status at the last attempt, if it answered.",
        },
        lastError: { type: ['string', 'null'] },
        nextAttemptAt: { type: ['string', 'null'], format: 'date-time', description: 'Null once delivered or failed.' },
      },
      additionalProperties: false,
    },
    NewCustomer: schemaOf(newCustomerBody),
  },
  paths: {
    '/customers': {
      post: {
        tags: ['customers'],
        summary: 'Register a customer',
        operationId: 'createCustomer',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/NewCustomer' } } },
        },
        responses: {
          '201': json(
            'Registered, and committed',
            { $ref: '#/components/schemas/Customer' },
            locationHeader('/customers/{id}'),
          ),
          ...bodyProblems,
          '409': problem('The email is taken (case does not matter).', 'email-taken'),
          ...storageProblems,
        },
      },
      get: {
        tags: ['customers'],
        summary: 'List customers by id, keyset-paged; with wait, a long poll',
        operationId: 'listCustomers',
        parameters: [
          ...pageParameters,
          {
            name: 'wait',
            in: 'query',
            description:
              'Long polling: when no customer follows `after` yet, hold the request up to this many seconds and ' +
              'answer as soon as one is committed (an empty page if none is).',
            schema: { type: 'integer', minimum: 0, maximum: 30, default: 0 },
          },
        ],
        responses: {
          '200': json(
            'A page of customers',
            { type: 'array', items: { $ref: '#/components/schemas/Customer' } },
            linkHeader,
          ),
          '400': problem('A bad after, limit or wait.', 'validation-failed'),
          '503': {
            ...problem(
              'MAX_HELD_POLLS long polls are held already (only a request with wait that finds no customer is held); ' +
                'ask again after Retry-After.',
              'too-many-long-polls',
            ),
            headers: {
              'Retry-After': {
                description: 'Seconds to wait.',
                required: true,
                schema: { type: 'integer', minimum: 1 },
              },
            },
          },
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
          '404': notFoundAnswer('No such customer.'),
        },
      },
    },
    '/webhook-endpoints': {
      post: {
        tags: ['webhooks'],
        summary: 'Subscribe a url to customer.created events',
        operationId: 'createWebhookEndpoint',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/NewWebhookEndpoint' } } },
        },
        responses: {
          '201': json(
            'Subscribed: it receives every customer committed from now on',
            { $ref: '#/components/schemas/CreatedWebhookEndpoint' },
            locationHeader('/webhook-endpoints/{id}'),
          ),
          ...bodyProblems,
          '409': problem('There are already 100 endpoints.', 'too-many-endpoints'),
          ...storageProblems,
        },
      },
      get: {
        tags: ['webhooks'],
        summary: 'List webhook endpoints (without their secrets), keyset-paged',
        operationId: 'listWebhookEndpoints',
        parameters: pageParameters,
        responses: {
          '200': json(
            'A page of endpoints',
            { type: 'array', items: { $ref: '#/components/schemas/WebhookEndpoint' } },
            linkHeader,
          ),
          '400': problem('A bad after or limit.', 'validation-failed'),
        },
      },
    },
    '/webhook-endpoints/{id}': {
      get: {
        tags: ['webhooks'],
        summary: 'One webhook endpoint, without its secret',
        operationId: 'getWebhookEndpoint',
        parameters: [ENDPOINT_ID],
        responses: {
          '200': json('The endpoint', { $ref: '#/components/schemas/WebhookEndpoint' }),
          '400': problem('The id is not a positive whole number.', 'validation-failed'),
          '404': notFoundAnswer('No such endpoint.'),
        },
      },
      delete: {
        tags: ['webhooks'],
        summary: 'Unsubscribe: the endpoint and its messages, pending ones included, are dropped',
        operationId: 'deleteWebhookEndpoint',
        parameters: [ENDPOINT_ID],
        responses: {
          '204': { description: 'Deleted' },
          '400': problem('The id is not a positive whole number.', 'validation-failed'),
          '404': notFoundAnswer('No such endpoint.'),
          ...storageProblems,
        },
      },
    },
    '/webhook-endpoints/{id}/messages': {
      get: {
        tags: ['webhooks'],
        summary: "The endpoint's message log, one row per event, keyset-paged",
        description:
          'Delivered and failed messages are kept WEBHOOK_RETENTION_DAYS (30 by default) after their last attempt; ' +
          'pending ones until they end.',
        operationId: 'listWebhookMessages',
        parameters: [ENDPOINT_ID, ...pageParameters],
        responses: {
          '200': json(
            'A page of messages',
            { type: 'array', items: { $ref: '#/components/schemas/WebhookMessage' } },
            linkHeader,
          ),
          '400': problem('A bad id, after or limit.', 'validation-failed'),
          '404': notFoundAnswer('No such endpoint.'),
        },
      },
    },
    '/webhook-endpoints/{id}/messages/{msgId}/retry': {
      post: {
        tags: ['webhooks'],
        summary: 'Send a failed or pending message again now',
        operationId: 'retryWebhookMessage',
        parameters: [ENDPOINT_ID, { ...idParameter('The message id'), name: 'msgId' }],
        responses: {
          '202': json('Due now: the dispatcher sends it at once', { $ref: '#/components/schemas/WebhookMessage' }),
          '400': problem('An id is not a positive whole number.', 'validation-failed'),
          '404': notFoundAnswer('No such endpoint, or no such message of it.'),
          '409': problem('The message was delivered already.', 'message-delivered'),
          ...storageProblems,
        },
      },
    },
  },
});
