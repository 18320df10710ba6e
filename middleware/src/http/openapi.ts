import { json, linkHeader, openApiDocument, pageParameters, problem, storageProblems } from '@welcome/common';

const timestamp = { type: ['string', 'null'], format: 'date-time' };
const deadLetterRef = { $ref: '#/components/schemas/DeadLetter' };

export const middlewareOpenApi = openApiDocument({
  title: 'Middleware',
  description:
    'Carries every new CRM customer to the Inventory as one welcome package. Its state (cursor, counters, dead letters) ' +
    'lives in its own SQLite database. A status page for people is at `/`.',
  port: 3003,
  schemas: {
    Status: {
      type: 'object',
      required: ['cursor', 'lastPollAt', 'lastSuccessAt', 'synced', 'alreadyThere', 'failedCycles', 'lastError', 'outage', 'deadLetters', 'crmHighestId', 'lag', 'recentDeliveries'],
      properties: {
        cursor: { type: 'integer', minimum: 0, description: 'The id of the last customer handled (delivered or dead-lettered).' },
        lastPollAt: timestamp,
        lastSuccessAt: timestamp,
        synced: { type: 'integer', minimum: 0, description: 'Packages this middleware created.' },
        alreadyThere: { type: 'integer', minimum: 0, description: 'Customers whose package the Inventory already had.' },
        failedCycles: { type: 'integer', minimum: 0 },
        lastError: { type: ['string', 'null'], description: 'The error of the last failed cycle; null after a successful one.' },
        outage: {
          oneOf: [
            { type: 'null' },
            {
              type: 'object',
              required: ['upstream', 'since', 'lastError'],
              properties: { upstream: { enum: ['CRM', 'Inventory'] }, since: { type: 'string', format: 'date-time' }, lastError: { type: 'string' } },
              additionalProperties: false,
            },
          ],
        },
        deadLetters: { type: 'integer', minimum: 0 },
        crmHighestId: { type: 'integer', minimum: 0, description: 'The highest customer id the CRM has shown.' },
        lag: { type: 'integer', minimum: 0, description: 'crmHighestId minus cursor.' },
        recentDeliveries: {
          type: 'array',
          description: 'The latest packages confirmed, newest first.',
          items: {
            type: 'object',
            required: ['customerId', 'customerName', 'packageId', 'outcome', 'at'],
            properties: {
              customerId: { type: 'integer' },
              customerName: { type: 'string' },
              packageId: { type: 'integer' },
              outcome: { enum: ['created', 'alreadyThere'] },
              at: { type: 'string', format: 'date-time' },
            },
            additionalProperties: false,
          },
        },
      },
      additionalProperties: false,
    },
    DeadLetter: {
      type: 'object',
      required: ['id', 'customerId', 'customer', 'status', 'reason', 'attempts', 'firstFailedAt', 'lastFailedAt'],
      properties: {
        id: { type: 'integer', minimum: 1 },
        customerId: { type: ['integer', 'null'], description: 'Null for a CRM record without a usable id.' },
        customer: { description: 'The record as the CRM sent it.' },
        status: { type: ['integer', 'null'], description: "The Inventory's status code; null when the CRM record itself was unusable." },
        reason: { description: "The Inventory's answer, or what was wrong with the record." },
        attempts: { type: 'integer', minimum: 1 },
        firstFailedAt: { type: 'string', format: 'date-time' },
        lastFailedAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    ReplayResult: {
      oneOf: [
        {
          type: 'object',
          required: ['id', 'customerId', 'outcome', 'packageId'],
          properties: { id: { type: 'integer' }, customerId: { type: 'integer' }, outcome: { enum: ['created', 'alreadyThere'] }, packageId: { type: 'integer' } },
          additionalProperties: false,
        },
        {
          type: 'object',
          required: ['id', 'customerId', 'outcome', 'deadLetter'],
          properties: { id: { type: 'integer' }, customerId: { type: ['integer', 'null'] }, outcome: { const: 'stillRefused' }, deadLetter: deadLetterRef },
          additionalProperties: false,
        },
      ],
    },
  },
  paths: {
    '/': {
      get: {
        tags: ['status'],
        summary: 'The status page, for people (HTML, refreshed every two seconds)',
        operationId: 'statusPage',
        responses: { '200': { description: 'An HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
    '/status': {
      get: {
        tags: ['status'],
        summary: 'Cursor, counters, outage and the latest deliveries',
        operationId: 'getStatus',
        responses: { '200': json('The status', { $ref: '#/components/schemas/Status' }) },
      },
    },
    '/dead-letters': {
      get: {
        tags: ['dead letters'],
        summary: 'The records that could not be delivered, by dead-letter id, keyset-paged',
        operationId: 'listDeadLetters',
        parameters: pageParameters,
        responses: {
          '200': json('A page of dead letters', { type: 'array', items: deadLetterRef }, linkHeader),
          '400': problem('A bad after or limit.', 'validation-failed'),
        },
      },
    },
    '/dead-letters/replay': {
      post: {
        tags: ['dead letters'],
        summary: 'Replay every dead letter in turn',
        operationId: 'replayAllDeadLetters',
        responses: {
          '200': json('What happened to each', {
            type: 'object',
            required: ['delivered', 'stillRefused', 'notTried', 'results'],
            properties: {
              delivered: { type: 'integer', minimum: 0 },
              stillRefused: { type: 'integer', minimum: 0 },
              notTried: { type: 'integer', minimum: 0, description: 'Letters left as they were because an upstream stopped answering.' },
              stoppedBy: { type: 'string', description: 'The upstream failure that ended the run early.' },
              results: { type: 'array', items: { $ref: '#/components/schemas/ReplayResult' } },
            },
            additionalProperties: false,
          }),
          ...storageProblems,
        },
      },
    },
    '/dead-letters/{id}/replay': {
      post: {
        tags: ['dead letters'],
        summary: 'Replay one dead letter now, with the customer as the CRM has it',
        operationId: 'replayDeadLetter',
        parameters: [{ name: 'id', in: 'path', required: true, description: 'The dead-letter id', schema: { type: 'integer', minimum: 1 } }],
        responses: {
          '200': json('Delivered (the letter leaves the list) or refused again (attempt counted)', { $ref: '#/components/schemas/ReplayResult' }),
          '400': problem('The id is not a positive whole number.', 'validation-failed'),
          '404': problem('No such dead letter.', 'not-found'),
          '502': problem('The CRM or the Inventory is unavailable; nothing was changed.', 'upstream-unavailable'),
          ...storageProblems,
        },
      },
    },
  },
});
