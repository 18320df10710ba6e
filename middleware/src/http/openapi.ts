import {
  bodyProblems,
  componentSchemas,
  idParameter,
  json,
  linkHeader,
  MAX_ID,
  notFoundAnswer,
  openApiDocument,
  pageParameters,
  problem,
  retryAfterHeader,
  storageProblems,
} from '@welcome/common';
import { deadLetterSchema, replayAllReportSchema, replayResultSchema } from '../domain/model/dead-letter.js';
import { journeyStepSchemas, journeyViewSchema, recordedStepSchema } from '../domain/model/journey.js';
import { findingSchema, reconciliationViewSchema } from '../domain/model/reconciliation.js';
import { deliveryStateSchema, statusSchema } from '../domain/model/status.js';
import { crmWebhookBodySchema, webhookBatchOutcomeSchema, webhookOutcomeSchema } from '../domain/model/webhook.js';
import { deliveryPaths } from './delivery-openapi.js';
import { webhookPaths } from './webhook-openapi.js';
import { pauseBody, reconcileBody } from './routes.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const deadLetterRef = ref('DeadLetter');
const reconciliationRef = ref('Reconciliation');
const journeyRef = ref('Journey');
const customerId = { type: 'integer', minimum: 1, maximum: MAX_ID };

/** Every shape the document names, each from the zod schema the code uses. */
const schemas = {
  ...componentSchemas({
    Status: statusSchema,
    DeliveryState: deliveryStateSchema,
    WebhookOutcome: webhookOutcomeSchema,
    WebhookBatchOutcome: webhookBatchOutcomeSchema,
    DeadLetter: deadLetterSchema,
    Finding: findingSchema,
    Reconciliation: reconciliationViewSchema,
    ...journeyStepSchemas,
    JourneyStep: recordedStepSchema,
    Journey: journeyViewSchema,
    ReplayResult: replayResultSchema,
    ReplayAllReport: replayAllReportSchema,
  }),
  ...componentSchemas(
    { NewReconciliation: reconcileBody, CrmWebhook: crmWebhookBodySchema, PauseRequest: pauseBody },
    'input',
  ),
};

export const middlewareOpenApi = openApiDocument({
  title: 'Middleware',
  description:
    'Carries every new CRM customer to the Inventory as one welcome package. ' +
    'Its state (cursor, counters, dead letters) lives in its own SQLite database, ' +
    'or on PostgreSQL (DATABASE_URL), where any number of replicas share it and the work: ' +
    'every replica answers the same. A status page for people is at `/`.',
  tags: [
    { name: 'status', description: 'Where delivery stands: for people (the page) and for programs.' },
    { name: 'push', description: "The CRM's webhooks." },
    { name: 'dead letters', description: 'Customers that could not be delivered, and replaying them.' },
    {
      name: 'delivery',
      description:
        'Flow control toward the Inventory: a pause for its maintenance, its Retry-After obeyed by every ' +
        'replica, a shared rate limit, an adaptive number of asks in flight, and a circuit breaker.',
    },
    {
      name: 'reconciliation',
      description:
        "The CRM's customers and the Inventory's packages compared side by side, " +
        'to find (and repair) what the Inventory lost after it had confirmed it: ' +
        'a restore from an old backup, a table emptied by mistake, a package deleted by hand.',
    },
    {
      name: 'journeys',
      description:
        'What happened to one customer: when the CRM made it, how the middleware found it, ' +
        'each ask of the Inventory with its answer, and the outcome, ' +
        'each step with the trace it happened in. Kept JOURNEY_RETENTION_DAYS (30).',
    },
  ],
  schemas,
  // The status page's HTML is served without the database; its data comes from /status.
  usesDatabase: (path) => path !== '/',
  paths: {
    '/': {
      get: {
        tags: ['status'],
        summary: 'The status page, for people (HTML, refreshed every two seconds)',
        operationId: 'statusPage',
        responses: { '200': { description: 'An HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
    ...webhookPaths,
    ...deliveryPaths,
    '/status': {
      get: {
        tags: ['status'],
        summary: 'Cursor, counters, outage and the latest deliveries',
        operationId: 'getStatus',
        responses: { '200': json('The status', ref('Status')) },
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
        description: 'Takes no body; one sent is ignored.',
        operationId: 'replayAllDeadLetters',
        responses: {
          '200': json('What happened to each', ref('ReplayAllReport')),
          ...storageProblems,
        },
      },
    },
    '/reconciliations': {
      post: {
        tags: ['reconciliation'],
        summary: "Compare the CRM's customers with the Inventory's packages, and repair the missing ones",
        description:
          'Walks both in customer-id order, a page of 1,000 at a time, in the background: ' +
          'follow its progress at the Location. Missing customers are delivered again through the same ' +
          'delivery code as every other path (the Inventory answers 200 for a package it has; ' +
          'a refusal becomes a dead letter). Mismatched and orphaned packages are reported, never changed. ' +
          'One runs at a time across all replicas; a run left by a stopped or lost middleware is taken up ' +
          'again from its last save. RECONCILE_INTERVAL starts one on its own.',
        operationId: 'startReconciliation',
        requestBody: {
          required: false,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/NewReconciliation' } } },
        },
        responses: {
          '202': json('Started', reconciliationRef, {
            Location: { description: 'The run: /reconciliations/{id}', required: true, schema: { type: 'string' } },
          }),
          ...bodyProblems,
          '400': problem(
            'A bad body: malformed JSON, a field that is not accepted or ' +
              'wrong, toId below fromId, or fromId beyond the cursor.',
            'malformed-json',
            'malformed-body',
            'validation-failed',
            'beyond-cursor',
          ),
          '409': {
            ...problem('One is running already: its Location says which.', 'reconciliation-running'),
            headers: {
              Location: {
                description: 'The running one: /reconciliations/{id}',
                required: true,
                schema: { type: 'string' },
              },
            },
          },
          ...storageProblems,
        },
      },
      get: {
        tags: ['reconciliation'],
        summary: 'The reconciliations, by id, keyset-paged',
        operationId: 'listReconciliations',
        parameters: pageParameters,
        responses: {
          '200': json('A page of reconciliations', { type: 'array', items: reconciliationRef }, linkHeader),
          '400': problem('A bad after or limit.', 'validation-failed'),
        },
      },
    },
    '/reconciliations/latest': {
      get: {
        tags: ['reconciliation'],
        summary: 'The latest reconciliation, running or not',
        operationId: 'getLatestReconciliation',
        responses: { '200': json('The latest', reconciliationRef), '404': notFoundAnswer('None has run yet.') },
      },
    },
    '/reconciliations/{id}': {
      get: {
        tags: ['reconciliation'],
        summary: 'One reconciliation: status, progress, counts and the first 100 findings',
        operationId: 'getReconciliation',
        parameters: [idParameter('The reconciliation id')],
        responses: {
          '200': json('The reconciliation', reconciliationRef),
          '400': problem('The id is not a positive whole number.', 'validation-failed'),
          '404': notFoundAnswer('No such reconciliation.'),
        },
      },
    },
    '/customers/{id}/journey': {
      get: {
        tags: ['journeys'],
        summary: 'What happened to one customer: found how, each ask of the Inventory, the outcome, and its trace',
        description:
          'The steps the middleware recorded for the customer, in time order. ' +
          'Steps are written a few milliseconds after they happen, and deleted JOURNEY_RETENTION_DAYS (30) after.',
        operationId: 'getJourney',
        parameters: [idParameter("The CRM's customer id")],
        responses: {
          '200': json('The journey', journeyRef),
          '400': problem('The id is not a positive whole number.', 'validation-failed'),
          '404': notFoundAnswer('The middleware has not seen this customer, or not within JOURNEY_RETENTION_DAYS.'),
        },
      },
    },
    '/journeys': {
      get: {
        tags: ['journeys'],
        summary: "One customer's journey as a list: it, or none (never a 404)",
        description:
          'The same journey as /customers/{id}/journey, for a caller that would rather not ' +
          'meet a 404 for a customer never seen: the status page does this, ' +
          'since a browser reports every 404 it fetches as an error.',
        operationId: 'findJourneys',
        parameters: [
          { name: 'customerId', in: 'query', required: true, description: "The CRM's customer id", schema: customerId },
        ],
        responses: {
          '200': json('The journey, or none', { type: 'array', maxItems: 1, items: journeyRef }),
          '400': problem('customerId is missing, given twice, or not a positive whole number.', 'validation-failed'),
        },
      },
    },
    '/dead-letters/{id}/replay': {
      post: {
        tags: ['dead letters'],
        summary: 'Replay one dead letter now, with the customer as the CRM has it',
        operationId: 'replayDeadLetter',
        description: 'Takes no body; one sent is ignored.',
        parameters: [idParameter('The dead-letter id')],
        responses: {
          '200': json('Delivered (the letter leaves the list) or refused again (attempt counted)', ref('ReplayResult')),
          '400': problem('The id is not a positive whole number.', 'validation-failed'),
          '404': notFoundAnswer('No such dead letter, or no longer: another replay delivered it meanwhile.'),
          '502': problem('The CRM or the Inventory is unavailable; nothing was changed.', 'upstream-unavailable'),
          ...storageProblems,
          '503': {
            ...problem(
              'Delivery is paused, the Inventory asked to be left alone, or the breaker is open ' +
                '(delivery-held); or the database could not take the write (storage-unavailable). ' +
                'Nothing was changed; try again after Retry-After.',
              'delivery-held',
              'storage-unavailable',
            ),
            headers: { 'Retry-After': retryAfterHeader },
          },
        },
      },
    },
  },
});
