import { bodyProblems, json, problem, storageProblems } from '@welcome/common';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** The flow-control routes of the middleware's OpenAPI document: pausing, resuming, and what holds delivery. */
export const deliveryPaths = {
  '/delivery': {
    get: {
      tags: ['delivery'],
      summary: 'Flow control toward the Inventory: paused, throttled, the circuit breaker',
      description: 'The same on every replica; /status carries it too.',
      operationId: 'getDelivery',
      responses: { '200': json('Flow control now', ref('DeliveryState')) },
    },
  },
  '/delivery/pause': {
    post: {
      tags: ['delivery'],
      summary: 'Pause delivery to the Inventory on every replica (a planned maintenance is one call)',
      description:
        'While paused, no request reaches the Inventory. CRM webhooks are still taken (202, `pending`) and ' +
        'the customers wait behind the cursor; the poller delivers them once resumed. Who paused is the ' +
        "API key's name (`key-` and the first 8 hex digits of its SHA-256), null without API_KEYS. " +
        'Pausing again replaces the pause.',
      operationId: 'pauseDelivery',
      requestBody: {
        required: false,
        content: { 'application/json': { schema: ref('PauseRequest') } },
      },
      responses: {
        '200': json('Paused', ref('DeliveryState')),
        ...bodyProblems,
        '400': problem(
          'A bad body: malformed JSON, a field that is not accepted or wrong, or `until` not in the future.',
          'malformed-json',
          'malformed-body',
          'validation-failed',
        ),
        ...storageProblems,
      },
    },
  },
  '/delivery/resume': {
    post: {
      tags: ['delivery'],
      summary: 'Resume delivery on every replica; the customers that waited go with the next poll',
      description: 'Takes no body; one sent is ignored. Resuming what is not paused changes nothing.',
      operationId: 'resumeDelivery',
      responses: { '200': json('Delivering again', ref('DeliveryState')), ...storageProblems },
    },
  },
};
