import {
  bodyProblems,
  idParameter,
  json,
  linkHeader,
  MAX_ID,
  notFoundAnswer,
  openApiDocument,
  pageParameters,
  problem,
  schemaOf,
  storageProblems,
} from '@welcome/common';
import { reconcileBody } from './routes.js';

const timestamp = { type: ['string', 'null'], format: 'date-time' };
const deadLetterRef = { $ref: '#/components/schemas/DeadLetter' };
const reconciliationRef = { $ref: '#/components/schemas/Reconciliation' };
const count = { type: 'integer', minimum: 0 };
const customerId = { type: 'integer', minimum: 1, maximum: MAX_ID };
const journeyRef = { $ref: '#/components/schemas/Journey' };
const traceId = {
  type: ['string', 'null'],
  description: 'The trace (OpenTelemetry, 32 hex digits) the step happened in; null outside one.',
};

/** One kind of journey step: `kind`, `at` and `traceId`, and the fields of that kind. */
const journeyStep = (
  kind: string,
  description: string,
  properties: Record<string, unknown> = {},
  required: string[] = [],
) => ({
  type: 'object',
  description,
  required: ['kind', 'at', ...required, 'traceId'],
  properties: { kind: { const: kind }, at: { type: 'string', format: 'date-time' }, ...properties, traceId },
  additionalProperties: false,
});

/** One CRM event, as Standard Webhooks delivers it. */
const crmEvent = {
  type: 'object',
  required: ['type', 'timestamp', 'data'],
  properties: {
    type: { type: 'string', examples: ['customer.created'] },
    timestamp: { type: 'string', format: 'date-time' },
    data: { type: 'object', description: 'The customer, as the CRM has it: `{ id, name, email, createdAt }`.' },
  },
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
  schemas: {
    Status: {
      type: 'object',
      required: [
        'cursor',
        'lastPollAt',
        'lastSuccessAt',
        'synced',
        'alreadyThere',
        'failedCycles',
        'lastError',
        'outage',
        'deadLetters',
        'crmHighestId',
        'lag',
        'recentDeliveries',
        'deliveriesByPath',
        'lastWebhookAt',
        'replicas',
        'lastReconciliation',
      ],
      properties: {
        cursor: {
          type: 'integer',
          minimum: 0,
          description: 'The id of the last customer handled (delivered or dead-lettered).',
        },
        lastPollAt: timestamp,
        lastSuccessAt: timestamp,
        synced: { type: 'integer', minimum: 0, description: 'Packages this middleware created.' },
        alreadyThere: {
          type: 'integer',
          minimum: 0,
          description: 'Customers whose package the Inventory already had.',
        },
        failedCycles: { type: 'integer', minimum: 0 },
        lastError: {
          type: ['string', 'null'],
          description: 'The error of the last failed cycle; null after a successful one.',
        },
        outage: {
          oneOf: [
            { type: 'null' },
            {
              type: 'object',
              required: ['upstream', 'since', 'lastError'],
              properties: {
                upstream: { enum: ['CRM', 'Inventory'] },
                since: { type: 'string', format: 'date-time' },
                lastError: { type: 'string' },
              },
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
        deliveriesByPath: {
          type: 'object',
          description: 'Packages confirmed, by how the customer arrived: a CRM webhook, a long poll, or a plain poll.',
          required: ['webhook', 'longPoll', 'poll'],
          properties: {
            webhook: { type: 'integer', minimum: 0 },
            longPoll: { type: 'integer', minimum: 0 },
            poll: { type: 'integer', minimum: 0 },
          },
          additionalProperties: false,
        },
        lastWebhookAt: {
          ...timestamp,
          description: 'When the last signed CRM webhook arrived; null before the first.',
        },
        replicas: {
          type: 'array',
          description:
            'The middleware processes whose heartbeat (every 15 s) was seen in the last minute, ' +
            'by id: one on SQLite, each replica on PostgreSQL.',
          items: {
            type: 'object',
            required: ['id', 'startedAt', 'lastSeenAt'],
            properties: {
              id: { type: 'string', description: 'The host and process id.' },
              startedAt: { type: 'string', format: 'date-time' },
              lastSeenAt: { type: 'string', format: 'date-time' },
            },
            additionalProperties: false,
          },
        },
        lastReconciliation: {
          oneOf: [{ type: 'null' }, reconciliationRef],
          description: 'The latest reconciliation; null before the first.',
        },
      },
      additionalProperties: false,
    },
    WebhookOutcome: {
      type: 'object',
      description:
        'What became of the event. `repeat` is true when the Inventory was not asked: ' +
        'the customer was known (the same webhook-id again, or delivered by the poller) ' +
        'or already in flight. `handledBefore`: the cursor had passed the customer long ago.',
      required: ['webhookId', 'outcome'],
      properties: {
        webhookId: { type: 'string' },
        customerId: { type: ['integer', 'null'] },
        outcome: { enum: ['created', 'alreadyThere', 'deadLettered', 'handledBefore', 'ignored'] },
        packageId: { type: 'integer', minimum: 1 },
        deadLetterId: { type: 'integer', minimum: 1 },
        status: { type: 'integer', description: "The Inventory's refusal status, for a customer dead-lettered now." },
        answer: { description: "The Inventory's refusal, for a customer dead-lettered now." },
        type: { description: 'The event type, when it was ignored.' },
        repeat: { type: 'boolean' },
      },
      additionalProperties: false,
    },
    DeadLetter: {
      type: 'object',
      required: ['id', 'customerId', 'customer', 'status', 'reason', 'attempts', 'firstFailedAt', 'lastFailedAt'],
      properties: {
        id: { type: 'integer', minimum: 1 },
        customerId: { type: ['integer', 'null'], description: 'Null for a CRM record without a usable id.' },
        customer: {
          description:
            'What could not be delivered: for an Inventory refusal, the customer as the middleware asked for it ' +
            '(`{ id, name }`); for an unusable CRM record, the record as the CRM sent it.',
        },
        status: {
          type: ['integer', 'null'],
          description: "The Inventory's status code; null when the CRM record itself was unusable.",
        },
        reason: { description: "The Inventory's answer, or what was wrong with the record." },
        attempts: { type: 'integer', minimum: 1 },
        firstFailedAt: { type: 'string', format: 'date-time' },
        lastFailedAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    NewReconciliation: schemaOf(reconcileBody),
    Finding: {
      type: 'object',
      description:
        '`missing`: a customer without a package (not one with a dead letter: ' +
        'that is on its own list). `mismatched`: a package under another name than its ' +
        "customer's. `orphaned`: a package for a customer the CRM does not have.",
      required: ['kind', 'customerId'],
      properties: {
        kind: { enum: ['missing', 'mismatched', 'orphaned'] },
        customerId,
        customerName: { type: 'string', description: 'The name the CRM has (missing, mismatched).' },
        packageId: {
          type: 'integer',
          minimum: 1,
          description: "The Inventory's package (mismatched, orphaned; missing once repaired).",
        },
        packageCustomerName: {
          type: 'string',
          description: 'The name the package was made for (mismatched, orphaned).',
        },
        repair: {
          enum: ['created', 'alreadyThere', 'deadLettered'],
          description:
            'What the repair of a missing customer came to; `deadLettered`: ' +
            'the Inventory refused it, see /dead-letters.',
        },
      },
      additionalProperties: false,
    },
    Reconciliation: {
      type: 'object',
      required: [
        'id',
        'status',
        'fromId',
        'toId',
        'repair',
        'progress',
        'counts',
        'findings',
        'error',
        'startedAt',
        'updatedAt',
        'finishedAt',
      ],
      properties: {
        id: { type: 'integer', minimum: 1 },
        status: { enum: ['running', 'done', 'failed'] },
        fromId: customerId,
        toId: { type: 'integer', minimum: 0 },
        repair: { type: 'boolean' },
        progress: {
          type: 'object',
          description: 'Ids checked, up to and including `checkedUpTo`, of the `total` ids from fromId to toId.',
          required: ['checkedUpTo', 'checked', 'total'],
          properties: { checkedUpTo: count, checked: count, total: count },
          additionalProperties: false,
        },
        counts: {
          type: 'object',
          description: 'Every finding so far, by kind, and the missing customers that have their package now.',
          required: ['missing', 'mismatched', 'orphaned', 'repaired'],
          properties: { missing: count, mismatched: count, orphaned: count, repaired: count },
          additionalProperties: false,
        },
        findings: {
          type: 'array',
          maxItems: 100,
          description: 'The first 100 findings, in customer-id order.',
          items: { $ref: '#/components/schemas/Finding' },
        },
        error: {
          type: ['string', 'null'],
          description:
            'Why it failed: the upstream that stopped answering. Start another from `progress.checkedUpTo + 1`.',
        },
        startedAt: { type: 'string', format: 'date-time' },
        updatedAt: { type: 'string', format: 'date-time' },
        finishedAt: timestamp,
      },
      additionalProperties: false,
    },
    JourneyStepCreated: journeyStep('created', 'The CRM made the customer (`at` is its createdAt).'),
    JourneyStepFound: journeyStep(
      'found',
      'The middleware found the customer: by a CRM webhook, a long poll, a plain poll, ' +
        'a reconciliation (missing), or a replay of its dead letter.',
      { via: { enum: ['webhook', 'longPoll', 'poll', 'reconciliation', 'replay'] } },
      ['via'],
    ),
    JourneyStepAsked: journeyStep(
      'asked',
      'One HTTP attempt at the Inventory (a retry is a second one): ' +
        'its status, or null and the error when it gave no answer.',
      { status: { type: ['integer', 'null'], minimum: 100, maximum: 599 }, error: { type: 'string' } },
      ['status'],
    ),
    JourneyStepOutcome: journeyStep(
      'outcome',
      'What came of it: a package created or already there, a dead letter (with the refusal status), ' +
        'a dead letter replayed, a lost package repaired.',
      {
        outcome: { enum: ['created', 'alreadyThere', 'deadLettered', 'replayed', 'repaired'] },
        packageId: { type: 'integer', minimum: 1 },
        deadLetterId: { type: 'integer', minimum: 1 },
        status: { type: 'integer', description: "The Inventory's refusal status, for a dead letter." },
      },
      ['outcome'],
    ),
    JourneyStep: {
      oneOf: [
        { $ref: '#/components/schemas/JourneyStepCreated' },
        { $ref: '#/components/schemas/JourneyStepFound' },
        { $ref: '#/components/schemas/JourneyStepAsked' },
        { $ref: '#/components/schemas/JourneyStepOutcome' },
      ],
      discriminator: {
        propertyName: 'kind',
        mapping: {
          created: '#/components/schemas/JourneyStepCreated',
          found: '#/components/schemas/JourneyStepFound',
          asked: '#/components/schemas/JourneyStepAsked',
          outcome: '#/components/schemas/JourneyStepOutcome',
        },
      },
    },
    Journey: {
      type: 'object',
      required: ['customerId', 'traceId', 'traceUrl', 'steps'],
      properties: {
        customerId,
        traceId: {
          type: ['string', 'null'],
          description: 'The trace of the latest step that has one; null when none has.',
        },
        traceUrl: {
          type: ['string', 'null'],
          format: 'uri',
          description:
            'That trace in the trace viewer (TRACE_UI_URL with the trace id); null without TRACE_UI_URL or a trace.',
        },
        steps: {
          type: 'array',
          minItems: 1,
          description: 'In time order; steps of the same time in the order they happened.',
          items: { $ref: '#/components/schemas/JourneyStep' },
        },
      },
      additionalProperties: false,
    },
    ReplayResult: {
      oneOf: [
        {
          type: 'object',
          required: ['id', 'customerId', 'outcome', 'packageId'],
          properties: {
            id: { type: 'integer' },
            customerId: { type: 'integer' },
            outcome: { enum: ['created', 'alreadyThere'] },
            packageId: { type: 'integer' },
          },
          additionalProperties: false,
        },
        {
          type: 'object',
          required: ['id', 'customerId', 'outcome', 'deadLetter'],
          properties: {
            id: { type: 'integer' },
            customerId: { type: ['integer', 'null'] },
            outcome: { const: 'stillRefused' },
            deadLetter: deadLetterRef,
          },
          additionalProperties: false,
        },
      ],
    },
  },
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
    '/webhooks/crm': {
      post: {
        tags: ['push'],
        summary: "The CRM's webhook (Standard Webhooks): a customer.created event becomes a welcome package at once",
        description:
          'Present only when CRM_WEBHOOK_SECRET is set (otherwise 404). The signature is checked over the raw ' +
          'body with the `standardwebhooks` package: `webhook-signature` is `v1,` and base64 HMAC-SHA256 of ' +
          '`webhook-id.webhook-timestamp.body`, and the timestamp may be at most five minutes off. ' +
          'The customer goes through the same delivery code as the poller; ' +
          'the poller later moves its cursor past it without asking the Inventory again.',
        operationId: 'receiveCrmWebhook',
        parameters: [
          {
            name: 'webhook-id',
            in: 'header',
            required: true,
            schema: { type: 'string' },
            description: 'The message id, the same on every attempt.',
          },
          {
            name: 'webhook-timestamp',
            in: 'header',
            required: true,
            schema: { type: 'string', pattern: '^\\d+$' },
            description: 'Unix seconds of this attempt.',
          },
          {
            name: 'webhook-signature',
            in: 'header',
            required: true,
            schema: { type: 'string' },
            description: 'Space-separated `v1,<base64>` signatures.',
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                oneOf: [
                  crmEvent,
                  {
                    type: 'array',
                    description:
                      'A batch, from an endpoint whose batchSize is above 1: ' +
                      'the events, each with its own webhook-id as `id`.',
                    items: {
                      ...crmEvent,
                      required: ['id', ...crmEvent.required],
                      properties: { id: { type: 'string', examples: ['msg_12'] }, ...crmEvent.properties },
                    },
                  },
                ],
              },
            },
          },
        },
        responses: {
          '200': json(
            'Delivered, known already, dead-lettered, or an event type that is ignored ' +
              '(for a batch: every event, in order)',
            {
              oneOf: [
                { $ref: '#/components/schemas/WebhookOutcome' },
                {
                  type: 'object',
                  required: ['webhookId', 'results'],
                  properties: {
                    webhookId: { type: 'string' },
                    results: { type: 'array', items: { $ref: '#/components/schemas/WebhookOutcome' } },
                  },
                  additionalProperties: false,
                },
              ],
            },
          ),
          '401': problem('Unsigned, wrongly signed, tampered with or stale: nothing was done.', 'invalid-signature'),
          '404': notFoundAnswer('The receiver is off: CRM_WEBHOOK_SECRET is not set.'),
          '413': problem('The body is larger than 64 KiB.', 'body-too-large'),
          '503': {
            ...problem(
              'The Inventory is unavailable: send the event again later (Retry-After). ' +
                "For a batch: some of its events found it so; `results` has each event's answer, " +
                'and those handled are not asked for again when the batch comes back.',
              'upstream-unavailable',
            ),
            headers: {
              'Retry-After': {
                description: 'Seconds to wait.',
                required: true,
                schema: { type: 'integer', minimum: 1 },
              },
            },
          },
          '507': storageProblems['507'],
        },
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
        description: 'Takes no body; one sent is ignored.',
        operationId: 'replayAllDeadLetters',
        responses: {
          '200': json('What happened to each', {
            type: 'object',
            required: ['delivered', 'stillRefused', 'notTried', 'results'],
            properties: {
              delivered: { type: 'integer', minimum: 0 },
              stillRefused: { type: 'integer', minimum: 0 },
              notTried: {
                type: 'integer',
                minimum: 0,
                description: 'Letters left as they were because an upstream stopped answering.',
              },
              stoppedBy: { type: 'string', description: 'The upstream failure that ended the run early.' },
              results: { type: 'array', items: { $ref: '#/components/schemas/ReplayResult' } },
            },
            additionalProperties: false,
          }),
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
          '200': json('Delivered (the letter leaves the list) or refused again (attempt counted)', {
            $ref: '#/components/schemas/ReplayResult',
          }),
          '400': problem('The id is not a positive whole number.', 'validation-failed'),
          '404': notFoundAnswer('No such dead letter, or no longer: another replay delivered it meanwhile.'),
          '502': problem('The CRM or the Inventory is unavailable; nothing was changed.', 'upstream-unavailable'),
          ...storageProblems,
        },
      },
    },
  },
});
