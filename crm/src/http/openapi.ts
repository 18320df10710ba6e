import {
  bodyProblems,
  componentSchemas,
  idParameter,
  json,
  linkHeader,
  locationHeader,
  openApiDocument,
  pageParameters,
  notFoundAnswer,
  problem,
  storageProblems,
} from '@welcome/common';
import { customerSchema, publicEndpointSchema, webhookEndpointSchema, webhookMessageSchema } from '../domain/model.js';
import { newCustomerBody } from './routes.js';
import { endpointChangeBody, newEndpointBody } from './webhook-routes.js';

const ENDPOINT_ID = idParameter('The webhook endpoint id');

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
    ...componentSchemas({
      Customer: customerSchema,
      WebhookEndpoint: publicEndpointSchema,
      CreatedWebhookEndpoint: webhookEndpointSchema,
      WebhookMessage: webhookMessageSchema,
    }),
    ...componentSchemas(
      { NewCustomer: newCustomerBody, NewWebhookEndpoint: newEndpointBody, WebhookEndpointChange: endpointChangeBody },
      'input',
    ),
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
      patch: {
        tags: ['webhooks'],
        summary: 'Enable a disabled endpoint (its kept messages are sent again), or disable one',
        description:
          'An endpoint whose every attempt has failed for WEBHOOK_DISABLE_AFTER (5 days) is disabled by the CRM, ' +
          'with the reason in `disabledReason`. `{ "enabled": true }` enables it: every message kept for it, ' +
          'pending or failed, is sent again, each on a fresh retry schedule. `{ "enabled": false }` stops ' +
          'sending to it and keeps its messages. Asking for what is already so changes nothing.',
        operationId: 'updateWebhookEndpoint',
        parameters: [ENDPOINT_ID],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/WebhookEndpointChange' } } },
        },
        responses: {
          '200': json('The endpoint as it is now', { $ref: '#/components/schemas/WebhookEndpoint' }),
          ...bodyProblems,
          '400': problem(
            'A bad id, or a bad body: malformed JSON, not `{ "enabled": true | false }`.',
            'malformed-json',
            'malformed-body',
            'validation-failed',
          ),
          '404': notFoundAnswer('No such endpoint.'),
          ...storageProblems,
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
          '202': json("Due now (or when the endpoint's Retry-After ends, if later): the dispatcher sends it then", {
            $ref: '#/components/schemas/WebhookMessage',
          }),
          '400': problem('An id is not a positive whole number.', 'validation-failed'),
          '404': notFoundAnswer('No such endpoint, or no such message of it.'),
          '409': problem(
            'The message was delivered already, or its endpoint is disabled (enable it first: PATCH).',
            'message-delivered',
            'endpoint-disabled',
          ),
          ...storageProblems,
        },
      },
    },
  },
});
